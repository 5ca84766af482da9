"""`make bench`: one JSON line per metric on stdout (progress on stderr).

python -m bench            # every metric
python -m bench ingest     # only metrics whose group name is given

Each group runs in a process of its own when there are several, as pyperf runs each
benchmark: a group must not pay for what an earlier one left behind (a heap of 100,000
synthetic offers for the collector to walk, page caches, threads). The stats screen
took 215-230 ms after the other groups and 175-180 ms on its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from bench.bench_api import bench_api
from bench.bench_cli import bench_cli
from bench.bench_memory import bench_memory
from bench.bench_postgres import bench_pg_ingest, bench_pg_notify, bench_pg_search
from bench.bench_refresh import bench_refresh
from bench.bench_stats import bench_stats
from bench.bench_store import bench_ingest, bench_search
from bench.bench_tui import bench_cold_start, bench_quit, bench_tui_cursor, bench_tui_filter
from bench.common import log

GROUPS: dict[str, Callable[[], None]] = {
    "ingest": bench_ingest,
    "search": bench_search,
    "refresh": bench_refresh,
    "tui": bench_tui_filter,
    "cursor": bench_tui_cursor,
    "quit": bench_quit,
    "coldstart": bench_cold_start,
    "memory": bench_memory,
    "stats": bench_stats,
    "api": bench_api,
    "cli": bench_cli,
    # team mode, on a throwaway PostgreSQL server (bench/bench_postgres.py)
    "pg_ingest": bench_pg_ingest,
    "pg_search": bench_pg_search,
    "pg_notify": bench_pg_notify,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(GROUPS)
    unknown = [g for g in wanted if g not in GROUPS]
    if unknown:
        print(
            f"bench: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}",
            file=sys.stderr,
        )
        return 2
    if len(wanted) > 1:
        failed = [
            name
            for name in wanted
            if subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode
        ]
        if failed:
            log(f"bench: {', '.join(failed)} did not finish")
        return 1 if failed else 0
    name = wanted[0]
    started = time.perf_counter()
    log(f"bench: {name} ...")
    GROUPS[name]()
    log(f"bench: {name} done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
