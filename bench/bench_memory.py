"""Resident memory of gpucm-tui with 100,000 offers in the store against 1,000: the
offer table is virtual (it holds a window of rows, not the table), so memory should
barely grow with the market.

Each run is the real entry point in a pseudo-terminal; 1.5 s after the first table
paint (the panes, charts and model detail have loaded by then), and once the offer
index is built, it reports its VmRSS.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import textwrap
from pathlib import Path

from bench.bench_tui import _fill, run_in_pty
from bench.common import Target, emit, log

_MEASURED_APP = textwrap.dedent("""
    import os, sys
    from gpucm.cli.main import tui_main
    from gpucm.tui.widgets.offer_table import OfferTable

    original = OfferTable.render_line
    armed = []

    def rss_kib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def detail():
        # for the log only, read after the measurement: anonymous memory against file
        # pages (shared libraries, the database read through SQLite's memory map)
        with open("/proc/self/status") as status:
            kib = {k: v.split()[:1] for k, _, v in (line.partition(":") for line in status)}
        mapped, current = 0, ""
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if fields and "-" in fields[0] and not fields[0].endswith(":"):
                    current = fields[-1] if len(fields) > 5 else ""
                elif fields[:1] == ["Rss:"] and current == os.path.abspath(sys.argv[1]):
                    mapped += int(fields[1])
        anon, files = kib["RssAnon"][0], kib["RssFile"][0]
        return f"anon {anon} KiB, file {files} KiB (the database mapped: {mapped} KiB)"

    def report(app, waited=0.0):
        # measured in the steady state: with the offer index built (it holds a copy of
        # the filter columns, so it grows with the market)
        store = getattr(getattr(app, "services", None), "store", None)
        if (store is None or store.index_generation is None) and waited < 10:
            app.set_timer(0.25, lambda: report(app, waited + 0.25))
            return
        rss = rss_kib()
        with open(os.environ["RSS_DETAIL"], "w") as out:
            out.write(detail())
        with open(os.environ["PAINTED_AT"], "w") as out:
            out.write(str(rss))
        app.exit()

    def render_line(self, y):
        strip = original(self, y)
        if y == 1 and self.loaded_generation and not armed:
            armed.append(1)
            self.app.set_timer(1.5, lambda: report(self.app))
        return strip

    OfferTable.render_line = render_line
    sys.exit(tui_main(["--db", sys.argv[1], "--no-refresh"]))
""")


def _rss_mib(db: Path) -> float:
    with tempfile.NamedTemporaryFile("r", suffix=".detail") as detail:
        os.environ["RSS_DETAIL"] = detail.name
        try:
            _, text = run_in_pty(_MEASURED_APP, str(db))
        finally:
            del os.environ["RSS_DETAIL"]
        log(f"bench memory: {db.name} {int(text)} KiB: {detail.read().strip()}")
    return int(text) / 1024


def bench_memory(repeat: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small.db", Path(tmp) / "large.db"
        asyncio.run(_fill(small, 1_000))
        asyncio.run(_fill(large, 100_000))
        os.environ["GPUCM_HOME"] = tmp
        base, big = [], []
        for _ in range(repeat):
            base.append(_rss_mib(small))
            big.append(_rss_mib(large))
        log(f"bench memory: 1k {base} MiB, 100k {big} MiB")
    b, v = statistics.median(base), statistics.median(big)
    emit(
        "tui_rss_100k_vs_1k_offers",
        v,
        "MiB",
        Target("ratio", "<=", 1.5),
        baseline=b,
        ratio=v / b,
        note="gpucm-tui's resident memory 1.5 s after its first table paint, offer index built",
    )
