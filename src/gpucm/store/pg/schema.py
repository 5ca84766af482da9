"""The PostgreSQL store's schema, as its own ordered list of migrations.

The tables and columns are SQLite's (store/schema.py, at its latest version), so the
shared table modules run the same SQL on both, with these PostgreSQL forms:

- `COLLATE NOCASE` columns take `nocase`, a case-insensitive ICU collation made here
  (so `x = ? COLLATE NOCASE` in the shared SQL works unchanged); every other text
  column compares and sorts byte by byte (`"C"`), as SQLite's BINARY does.
- SQLite's implicit `rowid` is an identity column of that name on `offers`: the
  default order's tie-break and what the offer index pages by.
- INTEGER is BIGINT (SQLite's integers are 64-bit), REAL is DOUBLE PRECISION.
- `WITHOUT ROWID` tables are plain tables with their primary key.

`schema_version` holds how many migrations the database has had; each runs in its
own transaction with the version bump, under the store's write lock, so two gpucm
processes starting on an empty database never both run one. Never edit a released
migration: append one.
"""

from __future__ import annotations

from gpucm.store.schema import Migration

# The oldest server this schema runs on: identity columns (10), nondeterministic ICU
# collations (12), and gpucm is tested on 15.
MIN_SERVER_VERSION = (12, 0)

_TEAM_STORE_HEAD = """
CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE offers (
    -- CACHE: a session takes its ids 1,000 at a time, not one sequence call per row
    -- (a 100,000-offer COPY: about 25% faster, bench pg_ingest)
    rowid                      BIGINT GENERATED ALWAYS AS IDENTITY (CACHE 1000) PRIMARY KEY,
    id                         TEXT COLLATE "C" NOT NULL,
    provider                   TEXT COLLATE "C" NOT NULL,
    provider_id                TEXT COLLATE "C" NOT NULL,
    available                  BIGINT NOT NULL,
    gpu_model                  TEXT COLLATE "C" NOT NULL,
    gpu_category               TEXT COLLATE "C" NOT NULL,
    gpu_count                  BIGINT NOT NULL,
    price_per_hour             DOUBLE PRECISION NOT NULL,
    gpu_memory_gb              DOUBLE PRECISION,
    ram_gb                     DOUBLE PRECISION,
    storage_gb                 DOUBLE PRECISION,
    reliability                DOUBLE PRECISION,
    performance                BIGINT,
    cuda_version               DOUBLE PRECISION,
    region                     TEXT COLLATE nocase NOT NULL,
    region_group               TEXT COLLATE "C",
    country                    TEXT COLLATE nocase,
    gpu_name                   TEXT COLLATE "C" NOT NULL,
    gpu_family                 TEXT COLLATE nocase NOT NULL,
    spot_price_per_hour        DOUBLE PRECISION,
    storage_price_per_gb_month DOUBLE PRECISION,
    vcpus                      DOUBLE PRECISION,
    availability               TEXT COLLATE "C" NOT NULL DEFAULT 'unknown',
    min_bid_per_gpu_hour       DOUBLE PRECISION,
    price_per_gpu_hour         DOUBLE PRECISION NOT NULL,
    value                      DOUBLE PRECISION,
    download_mbps              DOUBLE PRECISION,
    upload_mbps                DOUBLE PRECISION,
    verified                   BIGINT,
    fetched_at                 DOUBLE PRECISION NOT NULL,
    first_seen_at              DOUBLE PRECISION NOT NULL,
    previous_price_per_hour    DOUBLE PRECISION,
    is_new                     BIGINT NOT NULL DEFAULT 0,
    provider_data              TEXT NOT NULL DEFAULT '{}'
);
-- No other index on offers, measured (bench pg_ingest): an index on price cost a
-- 100,000-offer refresh's COPY about 45% more, one on provider about 90%, and the
-- searches that would use them are answered by the offer index (the TUI, the API)
-- or are one scan of 100,000 rows (a CLI search, a refresh's read of its provider's
-- rows: 10-30 ms). The primary key serves the offer index's page reads by rowid.

CREATE TABLE price_history (
    ts             BIGINT NOT NULL,
    provider       TEXT COLLATE "C" NOT NULL,
    gpu_model      TEXT COLLATE nocase NOT NULL,
    offers         BIGINT NOT NULL,
    available      BIGINT NOT NULL,
    min_gpu_price  DOUBLE PRECISION,
    avg_gpu_price  DOUBLE PRECISION,
    max_gpu_price  DOUBLE PRECISION,
    PRIMARY KEY (gpu_model, provider, ts)
);
CREATE INDEX price_history_ts ON price_history (ts);

"""

# The history's rollups (store/history.py), one table of each kind per resolution: the
# same columns, only the name differs.
_ROLLUP_RESOLUTIONS = ("hourly", "daily")


def _price_rollup(resolution: str) -> str:
    table = f"price_history_{resolution}"
    return f"""CREATE TABLE {table} (
    ts              BIGINT NOT NULL,
    provider        TEXT COLLATE "C" NOT NULL,
    gpu_model       TEXT COLLATE nocase NOT NULL,
    samples         BIGINT NOT NULL,
    offers_sum      BIGINT NOT NULL,
    available_sum   BIGINT NOT NULL,
    min_gpu_price   DOUBLE PRECISION,
    price_sum       DOUBLE PRECISION NOT NULL,
    price_weight    BIGINT NOT NULL,
    max_gpu_price   DOUBLE PRECISION,
    PRIMARY KEY (gpu_model, provider, ts)
);
CREATE INDEX {table}_ts ON {table} (ts, gpu_model, min_gpu_price);
"""


def _cheapest_rollup(resolution: str) -> str:
    return f"""CREATE TABLE cheapest_{resolution} (
    ts              BIGINT NOT NULL,
    gpu_model       TEXT COLLATE nocase NOT NULL,
    min_gpu_price   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (ts, gpu_model)
);
"""


_ROLLUPS = (
    "\n".join(_price_rollup(r) for r in _ROLLUP_RESOLUTIONS)
    + "\n"
    + "".join(_cheapest_rollup(r) for r in _ROLLUP_RESOLUTIONS)
)

_TEAM_STORE_REST = """
CREATE TABLE provider_health (
    provider             TEXT COLLATE "C" PRIMARY KEY,
    status               TEXT NOT NULL,
    last_attempt_at      DOUBLE PRECISION,
    last_success_at      DOUBLE PRECISION,
    last_error           TEXT,
    last_error_kind      TEXT,
    latency_ms           DOUBLE PRECISION,
    offer_count          BIGINT NOT NULL DEFAULT 0,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    next_attempt_at      DOUBLE PRECISION
);

CREATE TABLE instances (
    id          TEXT COLLATE "C" PRIMARY KEY,
    provider    TEXT COLLATE "C" NOT NULL,
    status      TEXT NOT NULL,
    request_id  TEXT COLLATE "C",
    updated_at  DOUBLE PRECISION NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX instances_provider ON instances (provider);

CREATE TABLE launch_journal (
    request_id         TEXT COLLATE "C" PRIMARY KEY,
    created_at         DOUBLE PRECISION NOT NULL,
    updated_at         DOUBLE PRECISION NOT NULL,
    state              TEXT NOT NULL,
    provider           TEXT NOT NULL,
    offer_id           TEXT NOT NULL,
    label              TEXT NOT NULL,
    request            TEXT NOT NULL,
    instance_id        TEXT,
    error              TEXT,
    fingerprint        TEXT,
    reserved_per_hour  DOUBLE PRECISION NOT NULL DEFAULT 0
);

CREATE TABLE demo_state (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE watch_alerts (
    watch       TEXT COLLATE "C" NOT NULL,
    channel     TEXT COLLATE "C" NOT NULL,
    alert_key   TEXT COLLATE "C" NOT NULL,
    fired_at    DOUBLE PRECISION NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (watch, channel, alert_key)
);
"""

# SQLite's spend ledger (store/schema.py SPEND_INTERVALS), its id an identity column
_SPEND_INTERVALS = """
CREATE TABLE spend_intervals (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id  TEXT COLLATE "C" NOT NULL,
    provider     TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    gpu          TEXT NOT NULL,
    launched_by  TEXT,
    kind         TEXT NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    ended_at     DOUBLE PRECISION,
    rate         DOUBLE PRECISION NOT NULL,
    reported     BIGINT NOT NULL
);
CREATE UNIQUE INDEX spend_intervals_instance ON spend_intervals (instance_id, started_at, kind);
CREATE INDEX spend_intervals_ended ON spend_intervals (ended_at);
"""

# The memory of bad hosts (domain/hosts.py), shared by the team: see store/schema.py.
_BAD_HOSTS = """
ALTER TABLE offers ADD COLUMN host_id TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE offers SET host_id = id;
CREATE TABLE bad_hosts (
    host         TEXT COLLATE "C" PRIMARY KEY,
    provider     TEXT COLLATE "C" NOT NULL,
    kind         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    recorded_at  DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL,
    instance_id  TEXT,
    recorded_by  TEXT
);
"""

# The events gpucm sends out (store/event_outbox.py), as SQLite's migration 9.
_EVENT_OUTBOX = """
CREATE TABLE event_outbox (
    event_key   TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    claimed_at  DOUBLE PRECISION,
    error       TEXT
);
CREATE INDEX event_outbox_state ON event_outbox (state, created_at);
"""

# Armed watches (store/armed_watches.py), as SQLite's migration 10.
_ARMED_WATCHES = """
CREATE TABLE armed_watches (
    owner          TEXT COLLATE "C" NOT NULL,
    watch          TEXT COLLATE "C" NOT NULL,
    armed          TEXT COLLATE "C" NOT NULL,
    query          TEXT NOT NULL,
    conditions     TEXT NOT NULL,
    template       TEXT NOT NULL,
    armed_at       DOUBLE PRECISION NOT NULL,
    armed_by       TEXT NOT NULL,
    disarmed_at    DOUBLE PRECISION,
    disarmed_by    TEXT,
    disarm_reason  TEXT,
    PRIMARY KEY (owner, watch)
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the team store: offers, history, health, instances, journal",
        _TEAM_STORE_HEAD + _ROLLUPS + _TEAM_STORE_REST,
    ),
    Migration(2, "the spend ledger", _SPEND_INTERVALS),
    Migration(3, "the memory of bad hosts", _BAD_HOSTS),
    Migration(4, "the outbox of events sent out", _EVENT_OUTBOX),
    Migration(5, "armed watches", _ARMED_WATCHES),
)

LATEST_VERSION = MIGRATIONS[-1].version
