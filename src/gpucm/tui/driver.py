"""A Linux terminal driver that lets gpucm-tui quit at once.

Textual's LinuxDriver reads the terminal on a thread that polls every 0.1 s; on exit
the app waits for that thread, which finishes its poll and then sleeps one more 0.1 s
(a final `select` with nothing left to watch). Every quit took 0.2 s before the
terminal was even handed back. This driver's thread also watches a pipe, written to
on exit, so it ends as soon as it is told to.

No public API covers this: `run_input_thread` below is Textual 8.2.8's own, with the
wake-up pipe added. Textual is pinned to that version in pyproject.toml, and
tests/tui/test_driver.py fails on any other version until this file is checked
against the new LinuxDriver.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual._loop import loop_last  # private: see the module docstring
from textual._xterm_parser import XTermParser  # private: see the module docstring
from textual.drivers.linux_driver import LinuxDriver

__all__ = ["TEXTUAL_VERSION", "QuickExitDriver"]

TEXTUAL_VERSION = "8.2.8"  # the LinuxDriver this was written against


class QuickExitDriver(LinuxDriver):
    """LinuxDriver whose input thread ends as soon as input is disabled."""

    _wake: tuple[int, int] | None = None

    def start_application_mode(self) -> None:
        self._wake = os.pipe()
        super().start_application_mode()  # type: ignore[no-untyped-call]

    def disable_input(self) -> None:
        if self._wake is not None and not self.exit_event.is_set():
            # the thread may be waiting in select: wake it; LinuxDriver.disable_input
            # then sets the exit event and joins the thread
            os.write(self._wake[1], b"x")
        super().disable_input()

    def close(self) -> None:
        super().close()
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual 8.2.8, plus the wake pipe)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        wake = self._wake[0] if self._wake is not None else None
        if wake is not None:
            selector.register(wake, selectors.EVENT_READ)

        fileno = self.fileno
        EVENT_READ = selectors.EVENT_READ

        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick

        decode = getincrementaldecoder("utf-8")().decode
        read = os.read

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]],
            final: bool = False,
        ) -> None:
            terminal = [(key, mask) for key, mask in selector_events if key.fd == fileno]
            for last, (_selector_key, mask) in loop_last(terminal):
                if mask & EVENT_READ:
                    unicode_data = decode(read(fileno, 1024 * 4), final=final and last)
                    if not unicode_data:
                        # This can occur if the stdin is piped
                        break
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            # what the terminal sent before the exit, without waiting for more
            process_selector_events(selector.select(0), final=True)
            selector.unregister(self.fileno)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except Exception:  # EOFError, ParseError: the parser's end, as Textual's
                pass
