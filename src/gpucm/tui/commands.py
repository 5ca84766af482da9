"""gpucm's commands for the ctrl+p palette.

The provider knows nothing about the app's widgets: it talks to the app through the
small `CommandTarget` protocol below, which gpucm's App class implements. Add it to the
app with ``COMMANDS = App.COMMANDS | {GpucmCommands}`` (gpucm's app names a function
that imports it, so it loads with the palette). On an app that does not
implement the protocol the provider offers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Literal, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

__all__ = [
    "CommandTarget",
    "ExportFormat",
    "GpucmCommands",
    "PaletteCommand",
    "commands_for",
    "listed",
]

ExportFormat = Literal["csv", "json"]


@runtime_checkable
class CommandTarget(Protocol):
    """What the palette needs from the app. gpucm's App implements these methods."""

    def active_providers(self) -> list[tuple[str, str]]:
        """(canonical name, display name) of each provider the app is refreshing,
        e.g. ``("vast_ai", "Vast.ai")``."""
        ...

    def theme_names(self) -> list[str]:
        """Names of the themes the user may switch to. (Not `available_themes`: that
        name is taken by Textual's `App.available_themes` property.)"""
        ...

    def set_theme(self, name: str) -> None: ...

    def refresh_provider(self, name: str | None) -> None:
        """Refresh one provider now (canonical name), or every active one for None."""
        ...

    def clear_filters(self) -> None: ...

    def export_view(self, fmt: ExportFormat) -> None:
        """Export the offers the user is looking at, in the given format."""
        ...

    def saved_filters(self) -> list[str]:
        """Names of the filters saved in filters.toml."""
        ...

    def recall_filter(self, name: str) -> None: ...

    def save_filter(self) -> None:
        """Ask for a name and save the current filter under it."""
        ...

    def watch_filter(self) -> None:
        """Ask for a condition and watch the current filter."""
        ...

    def open_market(self) -> None: ...

    def open_instances(self) -> None: ...

    def armed_watches(self) -> list[str]:
        """The store's armed watches, as last read: each one's owner, "" for the
        user's own."""
        ...

    def disarm_watch(self) -> None:
        """List the armed watches (anyone's) to choose one to disarm, or say that
        nothing is armed."""
        ...


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], None]
    # shown in the empty palette; themes only on search, they would bury the rest
    discover: bool = True


def commands_for(target: CommandTarget) -> list[PaletteCommand]:
    """Every command the palette offers for `target`, in display order."""
    commands: list[PaletteCommand] = []
    for name, display in target.active_providers():
        commands.append(
            PaletteCommand(
                f"Refresh {display}",
                f"Fetch {display}'s offers now",
                partial(target.refresh_provider, name),
            )
        )
    commands += [
        PaletteCommand(
            "Refresh all providers",
            "Fetch every active provider's offers now",
            partial(target.refresh_provider, None),
        ),
        PaletteCommand(
            "Clear filters",
            "Drop every filter and show all matching offers",
            target.clear_filters,
        ),
        PaletteCommand(
            "Market stats",
            "Per-model prices, percentiles and trends across providers (m)",
            target.open_market,
        ),
        PaletteCommand(
            "Instances",
            "Your machines at every provider, and what they cost (i)",
            target.open_instances,
        ),
        PaletteCommand(
            "Save filter as…",
            "Name the current filter; recall it here or with gpucm offers --preset",
            target.save_filter,
        ),
        PaletteCommand(
            "Watch this filter…",
            "Alert (notification and bell) when the filter crosses a price or count",
            target.watch_filter,
        ),
        PaletteCommand(
            "Disarm a watch…", _disarm_help(target.armed_watches()), target.disarm_watch
        ),
    ]
    for name in sorted(target.saved_filters()):
        commands.append(
            PaletteCommand(
                f"Filter: {name}",
                f"Recall the saved filter {name!r}",
                partial(target.recall_filter, name),
            )
        )
    commands += [
        PaletteCommand(
            "Export view as CSV",
            "Save the offers in the current view to a CSV file",
            partial(target.export_view, "csv"),
        ),
        PaletteCommand(
            "Export view as JSON",
            "Save the offers in the current view to a JSON file",
            partial(target.export_view, "json"),
        ),
    ]
    for theme in sorted(target.theme_names()):
        commands.append(
            PaletteCommand(
                f"Theme: {theme}",
                f"Switch to the {theme} theme",
                partial(target.set_theme, theme),
                discover=False,
            )
        )
    return commands


def _disarm_help(owners: list[str]) -> str:
    """As the status bar counts them: "2 armed (1 by bob)"."""
    said = "Stop a watch that launches when matched: "
    if not owners:
        return said + "nothing is armed now"
    others = [o for o in owners if o]
    by = f" ({len(others)} by {', '.join(sorted(set(others)))})" if others else ""
    return f"{said}{len(owners)} armed{by}"


def _highlight(matcher: Matcher, text: str) -> Content:
    """Like `Matcher.highlight`, but the text is never read as markup: provider and
    theme names come from outside and may contain brackets."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if not score:
        return content
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class _ListedCommands(Provider):
    """A provider of `PaletteCommand`s: each shown in the empty palette (unless it
    says not to), searched by title. The palette reads a hit's help as markup: it is
    escaped, since it may quote a watch's query or an owner's name."""

    def _commands(self) -> Iterator[PaletteCommand]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for command in self._commands():
            if command.discover:
                yield DiscoveryHit(
                    Content(command.title),
                    command.run,
                    text=command.title,
                    help=escape(command.help),
                )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher, command.title),
                    command.run,
                    text=command.title,
                    help=escape(command.help),
                )


class GpucmCommands(_ListedCommands):
    """Refresh, market, instances, saved filters, watches, export and theme commands,
    from the app's `CommandTarget`."""

    def _commands(self) -> Iterator[PaletteCommand]:
        target = self.app
        if isinstance(target, CommandTarget):
            yield from commands_for(target)


def listed(commands: list[PaletteCommand]) -> type[Provider]:
    """A provider of just `commands`, for a palette a command opens (the armed watches
    to choose one to disarm from): `CommandPalette(providers=[listed(...)])`."""

    class Listed(_ListedCommands):
        def _commands(self) -> Iterator[PaletteCommand]:
            return iter(commands)

    return Listed
