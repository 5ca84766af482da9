"""`Choice`: Textual's Select, safe to quit out of while it mounts."""

from __future__ import annotations

from textual import events
from textual.widgets import Select

__all__ = ["Choice"]


class Choice(Select[str]):
    """A Select whose screen may be removed (the app quitting) while it mounts.

    The filter pane's selects mount behind the table after its first rows are up, the
    longest on a loaded machine. A quit then (ctrl+q is a priority key, so a busy screen
    does not hold it back) marks every widget as going away, and Textual refuses each
    mount from then on: a select can get its Mount with its current-value part there but
    never filled. Select's mount handler then sets the initial value, which looks for
    that part's label and raised NoMatches, printed as a traceback on the way out, exit
    code 1. A select that is going away has nothing to show, so its set-up is skipped.
    """

    def _on_mount(self, event: events.Mount) -> None:
        if self._pruning or not self.is_attached:
            event.prevent_default()  # Select's own _on_mount, further up the MRO
