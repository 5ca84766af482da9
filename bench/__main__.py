"""`make bench`: one JSON line per metric on stdout (progress on stderr).

python -m bench            # every metric
python -m bench ingest     # only metrics whose group name is given
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench.bench_memory import bench_memory
from bench.bench_refresh import bench_refresh
from bench.bench_stats import bench_stats
from bench.bench_store import bench_ingest, bench_search
from bench.bench_tui import bench_cold_start, bench_tui_filter
from bench.common import log

GROUPS: dict[str, Callable[[], None]] = {
    "ingest": bench_ingest,
    "search": bench_search,
    "refresh": bench_refresh,
    "tui": bench_tui_filter,
    "coldstart": bench_cold_start,
    "memory": bench_memory,
    "stats": bench_stats,
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
    for name in wanted:
        started = time.perf_counter()
        log(f"bench: {name} ...")
        GROUPS[name]()
        log(f"bench: {name} done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
