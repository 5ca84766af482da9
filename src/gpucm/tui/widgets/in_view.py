"""Whether a pane is laid out on screen, for the panes that read the store for what they
show (the model detail, the market charts).

Such a pane reads nothing while it is out of view (its own `display: none`, or a pane
around it the user hid): it keeps what it was asked to show and reads it, once, when it
comes into view. Textual posts Show when a widget enters the screen's layout and Hide
when it leaves it; a widget scrolled out of sight stays in the layout. Reading while
hidden would cost a store read per cursor move, and the new content would make Textual
lay the screen out again for nothing.
"""

from __future__ import annotations

from textual import events

__all__ = ["InView"]


class InView:
    """Mixin for a widget (put it before the widget class): `laid_out` follows Textual's
    Show and Hide; `came_into_view` and `went_out_of_view` are the pane's hooks."""

    _laid_out = False

    @property
    def laid_out(self) -> bool:
        """On screen: in the screen's layout since its last Show, not hidden since."""
        return self._laid_out

    def on_show(self, _event: events.Show) -> None:
        self._laid_out = True
        self.came_into_view()

    def on_hide(self, _event: events.Hide) -> None:
        self._laid_out = False
        self.went_out_of_view()

    def came_into_view(self) -> None:
        """Read what changed while out of view."""

    def went_out_of_view(self) -> None:
        """Stop reading (a read already under way may be dropped)."""
