"""`L` on a dialog that shows offers: launch the one selected.

The best-offers, compare and offer-detail dialogs each hold a selected offer, or none
(nothing matches, it vanished in a refresh); `L` opens the launch form for it, and is
greyed out, with the dialog's own reason, while there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import BindingType
from textual.screen import ModalScreen

from gpucm.domain.models import Offer
from gpucm.tui.screens.help import HELP_KEY

if TYPE_CHECKING:
    from gpucm.services import Services


class LaunchKeyScreen(ModalScreen[None]):
    """A dialog whose `launch` action opens the launch form for `selected`."""

    BINDINGS: ClassVar[list[BindingType]] = [HELP_KEY]

    # why `L` is greyed out while nothing is selected, in the dialog's own words
    LAUNCH_UNAVAILABLE: ClassVar[str] = "No offer is selected."

    services: Services

    @property
    def selected(self) -> Offer | None:
        """The offer `L` launches now (None: nothing to launch)."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "launch":
            return True if self.selected is not None else None
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        if action == "launch":
            return self.LAUNCH_UNAVAILABLE
        return None

    def action_launch(self) -> None:
        """Open the launch form over this dialog for the offer selected."""
        # imported when first used: drawing the dialog does not need the form
        from gpucm.tui.screens.launch_form import LaunchScreen

        offer = self.selected
        if offer is None:  # called directly: the greyed key itself is explained by on_key
            self.notify(self.LAUNCH_UNAVAILABLE, timeout=3)
            return
        self.app.push_screen(LaunchScreen(self.services, offer))
