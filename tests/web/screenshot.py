"""`make screenshots`' browser picture: gpucm-tui --serve on the demo market in headless
Chromium at 120x40 cells, after a query, saved as a PNG for the README.

python -m tests.web.screenshot screenshots
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.web.browser import chromium, market_painted, tui_server, type_keys, wait_for

NAME = "browser-120x40.png"
COLS, ROWS = 120, 40
SIZE_OF_TERMINAL = "return [window.__gpucmTerminal.cols, window.__gpucmTerminal.rows]"


# The window that gives COLS x ROWS cells at the page's 16 px font (9 x 18 px cells,
# plus the window's own frame in headless Chromium). Set before the page loads:
# xterm's canvas does not shrink well on a live resize in headless Chromium.
WINDOW = (COLS * 9 + 6, ROWS * 18 + 146)


def take(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / NAME
    with (
        tempfile.TemporaryDirectory() as home,
        tui_server(Path(home), "--demo") as served,
        chromium(*WINDOW) as browser,
    ):
        browser.get(served.url)
        wait_for(browser, market_painted, "the DEMO market")
        cells = tuple(browser.execute_script(SIZE_OF_TERMINAL))
        if cells != (COLS, ROWS):
            raise SystemExit(f"the terminal is {cells[0]}x{cells[1]}, not {COLS}x{ROWS}")
        type_keys(browser, "/")
        time.sleep(1)
        type_keys(browser, "gpu=H100,A100 count>=2 sort=-performance\ue007")
        wait_for(browser, lambda lines: any("A100" in line for line in lines), "the query")
        wait_for(browser, market_painted, "the repainted table")
        time.sleep(2)  # let the charts settle
        browser.save_screenshot(str(target))
    return target


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    print(f"wrote {take(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
