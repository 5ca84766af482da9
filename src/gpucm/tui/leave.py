"""Leaving gpucm-tui quickly once the app has shut down."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """End the process now. Call it only after `App.run()` has returned: the store is
    closed (the app's unmount closed it), the terminal restored and the log flushed
    here. What is skipped is the interpreter's teardown, which walked a heap of about
    a million objects (the catalog, parsed CSS, the widgets) for 0.1-0.3 s after the
    screen was already gone."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
            stream.flush()
    os._exit(code)
