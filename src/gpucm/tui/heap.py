"""The cyclic garbage collector and the app's long-lived start-up objects."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Put everything alive once the app is up (modules, parsed CSS, widgets, the
    catalog) out of the collector's reach, so a full collection walks only what was
    made since. Without it, a full collection landing while a screen opens cost ~50 ms;
    the stats screen over 10M history points opened ~10% faster (bench stats). The
    young generations are collected first, so freezing keeps no fresh garbage alive;
    freezing frees nothing either: refcounting still reclaims frozen objects."""
    gc.collect(1)
    gc.freeze()
