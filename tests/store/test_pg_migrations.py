"""The team store's released migrations, pinned: a database that ran one never sees it
change, however its DDL is put together in store/pg/schema.py (the history's rollups
are generated from one definition per kind)."""

from __future__ import annotations

import hashlib

from gpucm.store.pg.schema import MIGRATIONS

# sha256 of each released migration's SQL, as PostgreSQL databases out there ran it
RELEASED = {
    1: "50d24c20dfb837d96d233cf06717027b1212ce5cabf590756d02838debbc487e",
    2: "176f5f0166530ba7af8d0955a82bb18cdf14c85b69c38e86af5692a24f1e37d3",
    3: "431fcae4e37eb73eae77c910b314f4b20139cf84f827d2f41100b4415f69ed00",
    4: "1ef2cb770dd5914e25f605eb19340a52d28e06341c6841020e2c066ddf89eb0f",
}


def test_a_released_migration_is_never_edited() -> None:
    sql = {m.version: m.sql for m in MIGRATIONS}
    for version, digest in RELEASED.items():
        assert hashlib.sha256(sql[version].encode()).hexdigest() == digest, (
            f"migration {version} changed: append a migration instead"
        )


def test_the_hourly_and_daily_rollups_differ_only_in_their_names() -> None:
    team_store = MIGRATIONS[0].sql
    for kind in ("price_history", "cheapest"):
        hourly, daily = (
            team_store.split(f"CREATE TABLE {kind}_{resolution} (")[1].split(";")[0]
            for resolution in ("hourly", "daily")
        )
        assert "min_gpu_price" in hourly and hourly == daily
    assert (
        "CREATE INDEX price_history_daily_ts ON price_history_daily"
        " (ts, gpu_model, min_gpu_price);" in team_store
    )
