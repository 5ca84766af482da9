"""The store's schema as an ordered list of migrations.

`PRAGMA user_version` holds how many migrations a database has had. Each migration
runs in its own transaction together with the version bump, so a database is always
at exactly one version. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucm.store.sql import (
    REBUILD_CHEAPEST_ROLLUPS,
    REBUILD_DAILY_ROLLUP,
    REBUILD_HOURLY_ROLLUP,
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema: `sql` takes a database from version - 1 to `version`."""

    version: int
    description: str
    sql: str


# Offer columns; the single source for INSERTs (which name their columns) and row
# decoding. The first DIRECT_COLUMNS are Offer attributes of the same name, read in one
# C call. Columns a later migration added sit at the table's end, not where listed here.
DIRECT_COLUMNS: tuple[str, ...] = (
    "id",
    "provider",
    "provider_id",
    "available",
    "gpu_model",
    "gpu_category",
    "gpu_count",
    "price_per_hour",
    "gpu_memory_gb",
    "ram_gb",
    "storage_gb",
    "reliability",
    "performance",
    "cuda_version",
    "region",
    "region_group",
    "country",
    "gpu_name",
    "gpu_family",
    "spot_price_per_hour",
    "storage_price_per_gb_month",
    "vcpus",
    "availability",
    "min_bid_per_gpu_hour",
    "host_id",
)
OFFER_COLUMNS: tuple[str, ...] = (
    *DIRECT_COLUMNS,
    "price_per_gpu_hour",
    "value",
    "download_mbps",
    "upload_mbps",
    "verified",
    "fetched_at",
    "first_seen_at",
    "previous_price_per_hour",
    "is_new",
    "provider_data",
)

_INITIAL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Current offers: one provider's rows are replaced as a whole by each refresh.
-- `id` is unique (store/snapshot.py drops repeats) but not indexed: a text key index
-- cost 40% of a 100k-offer refresh, and only rare single lookups (launch, detail) use it.
CREATE TABLE offers (
    id                         TEXT NOT NULL,
    provider                   TEXT NOT NULL,
    provider_id                TEXT NOT NULL,
    available                  INTEGER NOT NULL,
    gpu_model                  TEXT NOT NULL,
    gpu_category               TEXT NOT NULL,
    gpu_count                  INTEGER NOT NULL,
    price_per_hour             REAL NOT NULL,
    gpu_memory_gb              REAL,
    ram_gb                     REAL,
    storage_gb                 REAL,
    reliability                REAL,
    performance                INTEGER,
    cuda_version               REAL,
    region                     TEXT NOT NULL COLLATE NOCASE,
    region_group               TEXT,
    country                    TEXT COLLATE NOCASE,
    gpu_name                   TEXT NOT NULL,
    gpu_family                 TEXT NOT NULL COLLATE NOCASE,
    spot_price_per_hour        REAL,
    storage_price_per_gb_month REAL,
    vcpus                      REAL,
    price_per_gpu_hour         REAL NOT NULL,
    value                      REAL,
    download_mbps              REAL,
    upload_mbps                REAL,
    verified                   INTEGER,
    fetched_at                 REAL NOT NULL,
    first_seen_at              REAL NOT NULL,
    previous_price_per_hour    REAL,
    is_new                     INTEGER NOT NULL DEFAULT 0,
    provider_data              TEXT NOT NULL DEFAULT '{}'
);
-- Two indexes, chosen by measurement (bench/): each index slows every refresh, and
-- walking an index for a sparse filter (a table lookup per entry) is slower than a
-- scan, which costs 10-20 ms at 100k rows (research/probe-report.md 4.4).
-- offers_price serves the default order (ties broken by rowid, which it carries);
-- offers_model serves the commonest filter, a GPU model or family, in price order.
-- store/search_sql.py decides when the planner may walk them.
CREATE INDEX offers_price ON offers(price_per_hour);

-- One compact point per (provider, gpu_model) per refresh; prices are per GPU-hour
-- over the available offers so different GPU counts compare.
CREATE TABLE price_history (
    ts             INTEGER NOT NULL,
    provider       TEXT NOT NULL,
    gpu_model      TEXT NOT NULL COLLATE NOCASE,
    offers         INTEGER NOT NULL,
    available      INTEGER NOT NULL,
    min_gpu_price  REAL,
    avg_gpu_price  REAL,
    max_gpu_price  REAL,
    PRIMARY KEY (gpu_model, provider, ts)
) WITHOUT ROWID;
CREATE INDEX price_history_ts ON price_history(ts);

CREATE TABLE provider_health (
    provider             TEXT PRIMARY KEY,
    status               TEXT NOT NULL,
    last_attempt_at      REAL,
    last_success_at      REAL,
    last_error           TEXT,
    last_error_kind      TEXT,
    latency_ms           REAL,
    offer_count          INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      REAL
) WITHOUT ROWID;

CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    status      TEXT NOT NULL,
    request_id  TEXT,
    updated_at  REAL NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX instances_provider ON instances(provider);

-- Written before a provider is called, so a crash can never lead to a second launch.
CREATE TABLE launch_journal (
    request_id   TEXT PRIMARY KEY,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    state        TEXT NOT NULL,
    provider     TEXT NOT NULL,
    offer_id     TEXT NOT NULL,
    label        TEXT NOT NULL,
    request      TEXT NOT NULL,
    instance_id  TEXT,
    error        TEXT
) WITHOUT ROWID;

-- The demo market's own state, so separate commands see the same simulated market.
CREATE TABLE demo_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

# Price history rolled up by hour and by day, so a 30-day chart reads ~720 rows per
# provider instead of every refresh's point; and the alerts watches have raised, so a
# watch fires once per offer and condition, not on every refresh.
_ROLLUPS_AND_WATCHES = """
CREATE TABLE price_history_hourly (
    ts              INTEGER NOT NULL,
    provider        TEXT NOT NULL,
    gpu_model       TEXT NOT NULL COLLATE NOCASE,
    samples         INTEGER NOT NULL,
    offers_sum      INTEGER NOT NULL,
    available_sum   INTEGER NOT NULL,
    min_gpu_price   REAL,
    price_sum       REAL NOT NULL,
    price_weight    INTEGER NOT NULL,
    max_gpu_price   REAL,
    PRIMARY KEY (gpu_model, provider, ts)
) WITHOUT ROWID;
CREATE INDEX price_history_hourly_ts ON price_history_hourly(ts);

CREATE TABLE price_history_daily (
    ts              INTEGER NOT NULL,
    provider        TEXT NOT NULL,
    gpu_model       TEXT NOT NULL COLLATE NOCASE,
    samples         INTEGER NOT NULL,
    offers_sum      INTEGER NOT NULL,
    available_sum   INTEGER NOT NULL,
    min_gpu_price   REAL,
    price_sum       REAL NOT NULL,
    price_weight    INTEGER NOT NULL,
    max_gpu_price   REAL,
    PRIMARY KEY (gpu_model, provider, ts)
) WITHOUT ROWID;
CREATE INDEX price_history_daily_ts ON price_history_daily(ts);

-- channel: where the alert went (the TUI, `gpucm watch`); each gets every alert once
CREATE TABLE watch_alerts (
    watch       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    alert_key   TEXT NOT NULL,
    fired_at    REAL NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (watch, channel, alert_key)
) WITHOUT ROWID;
"""

# The stats screen's trend column reads every model's cheapest price per bucket since a
# time. With these indexes that read never touches the rollup rows: a 7-day trend over
# a month of history (50,000 hourly rows) took ~120 ms through the ts-only index, a row
# lookup per entry, and takes ~20 ms (bench stats_screen_10m_history_points). Pruning
# by ts uses them as it used the ts-only ones they replace.
_TREND_INDEXES = """
DROP INDEX price_history_hourly_ts;
CREATE INDEX price_history_hourly_ts ON price_history_hourly(ts, gpu_model, min_gpu_price);
DROP INDEX price_history_daily_ts;
CREATE INDEX price_history_daily_ts ON price_history_daily(ts, gpu_model, min_gpu_price);
"""

# The same trend read, from rows that are already the cheapest per model and bucket:
# one row per model per hour instead of one per provider, and no grouping. A 7-day
# trend over 10M history points went from 22-34 ms to ~10 ms (bench
# stats_screen_10m_history_points). Kept up to date with the rollups they come from.
_CHEAPEST_ROLLUPS = """
CREATE TABLE cheapest_hourly (
    ts              INTEGER NOT NULL,
    gpu_model       TEXT NOT NULL COLLATE NOCASE,
    min_gpu_price   REAL NOT NULL,
    PRIMARY KEY (ts, gpu_model)
) WITHOUT ROWID;
CREATE TABLE cheapest_daily (
    ts              INTEGER NOT NULL,
    gpu_model       TEXT NOT NULL COLLATE NOCASE,
    min_gpu_price   REAL NOT NULL,
    PRIMARY KEY (ts, gpu_model)
) WITHOUT ROWID;
"""

# Each launch request keeps a hash of what it asked for (the same request id with another
# request is refused) and the all-in $/h it holds against the budget while in flight.
_JOURNAL_RESERVATIONS = """
ALTER TABLE launch_journal ADD COLUMN fingerprint TEXT;
ALTER TABLE launch_journal ADD COLUMN reserved_per_hour REAL NOT NULL DEFAULT 0;
"""

# The stock level (high, medium, low, none, unknown) beside the original API's
# `available` flag, which stays: true unless the level is none. Offers written before
# knew only the flag. And the lowest interruptible bid per GPU-hour a provider takes.
_AVAILABILITY_AND_BID = """
ALTER TABLE offers ADD COLUMN availability TEXT NOT NULL DEFAULT 'unknown';
UPDATE offers SET availability = 'none' WHERE available = 0;
ALTER TABLE offers ADD COLUMN min_bid_per_gpu_hour REAL;
"""

# The spend ledger (store/spend_ledger.py): each machine's billed intervals, kept
# apart from `instances` (whose terminated rows are pruned after a week) so spend
# outlives the machine. `kind`: compute (running or starting) or storage (stopped,
# where the provider bills the disk); `reported`: 1 when the rate is the provider's
# own billed figure, 0 when gpucm estimated it; an open interval has no `ended_at`.
SPEND_INTERVALS = """
CREATE TABLE spend_intervals (
    id           INTEGER PRIMARY KEY,
    instance_id  TEXT NOT NULL,
    provider     TEXT NOT NULL,
    name         TEXT NOT NULL,
    gpu          TEXT NOT NULL,
    launched_by  TEXT,
    kind         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    ended_at     REAL,
    rate         REAL NOT NULL,
    reported     INTEGER NOT NULL
);
CREATE UNIQUE INDEX spend_intervals_instance ON spend_intervals(instance_id, started_at, kind);
CREATE INDEX spend_intervals_ended ON spend_intervals(ended_at);
"""

# The memory of bad hosts (domain/hosts.py): each offer's machine, and the machines a
# launch failed on or the user marked bad, until `expires_at`. Offers written before
# name no machine: their own id stands for it until the next refresh.
_BAD_HOSTS = """
ALTER TABLE offers ADD COLUMN host_id TEXT NOT NULL DEFAULT '';
UPDATE offers SET host_id = id;
CREATE TABLE bad_hosts (
    host         TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    recorded_at  REAL NOT NULL,
    expires_at   REAL NOT NULL,
    instance_id  TEXT,
    recorded_by  TEXT
) WITHOUT ROWID;
"""

# The events gpucm sends out (store/event_outbox.py): one row per event key, so each
# is sent once across processes and restarts.
_EVENT_OUTBOX = """
CREATE TABLE event_outbox (
    event_key   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    claimed_at  REAL,
    error       TEXT
) WITHOUT ROWID;
CREATE INDEX event_outbox_state ON event_outbox(state, created_at);
"""

# Armed watches (store/armed_watches.py): a watch's arming lives here, not in the
# owner's filters.toml, so the team's refresher fires every member's snipe. One row
# per owner and watch; a disarmed row stays (who disarmed it, when, why) until the
# watch is armed again or deleted.
_ARMED_WATCHES = """
CREATE TABLE armed_watches (
    owner          TEXT NOT NULL,
    watch          TEXT NOT NULL,
    armed          TEXT NOT NULL,
    query          TEXT NOT NULL,
    conditions     TEXT NOT NULL,
    template       TEXT NOT NULL,
    armed_at       REAL NOT NULL,
    armed_by       TEXT NOT NULL,
    disarmed_at    REAL,
    disarmed_by    TEXT,
    disarm_reason  TEXT,
    PRIMARY KEY (owner, watch)
) WITHOUT ROWID;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _INITIAL),
    Migration(
        2,
        "price history rollups, watch alerts",
        _ROLLUPS_AND_WATCHES + REBUILD_HOURLY_ROLLUP + REBUILD_DAILY_ROLLUP,
    ),
    Migration(3, "covering indexes for the cheapest-price trend", _TREND_INDEXES),
    Migration(
        4, "cheapest price per model and bucket", _CHEAPEST_ROLLUPS + REBUILD_CHEAPEST_ROLLUPS
    ),
    Migration(5, "launch journal: fingerprints, budget reservations", _JOURNAL_RESERVATIONS),
    Migration(6, "offer availability level and minimum bid", _AVAILABILITY_AND_BID),
    Migration(7, "the spend ledger", SPEND_INTERVALS),
    Migration(8, "the memory of bad hosts", _BAD_HOSTS),
    Migration(9, "the outbox of events sent out", _EVENT_OUTBOX),
    Migration(10, "armed watches", _ARMED_WATCHES),
)

LATEST_VERSION = MIGRATIONS[-1].version
