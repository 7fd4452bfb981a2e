"""The command palette's run commands: they follow the run's state (what the engine
allows now), so the palette never offers what ``n``/``R``/``space`` would refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PaletteSource(Protocol):
    """What the provider needs from the app."""

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) of every command available now."""
        ...


class RunCommands(Provider):
    """Advance, canary steps, pause/resume, roll back, sign off <item>, logs, help."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        source = self.app
        get = getattr(source, "palette_commands", None)
        return get() if get is not None else []

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
