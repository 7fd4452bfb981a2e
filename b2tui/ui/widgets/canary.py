"""Canary traffic: asked vs achievable percent, the next step, the rollback target."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult

from b2tui.domain.canary import DEFAULT_STEPS, CanaryStep
from b2tui.domain.view import RunView
from b2tui.ui.render import canary_lines
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel


class CanaryPanel(Panel):
    """Traffic on the new version and where ``R`` would take the service, shown before
    anyone presses it."""

    BORDER_TITLE = "Canary"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: tuple[CanaryStep, ...] = DEFAULT_STEPS
        """The environment's canary steps (set by the app from the settings)."""
        self._text = QuietLabel("", id="canary-text")

    def compose(self) -> ComposeResult:
        yield self._text

    def show_view(self, view: RunView, now: datetime, *, can_advance: bool = False) -> None:
        """Redraw from the view (also on the clock tick: the hold countdown)."""
        lines = canary_lines(view, self.steps, now, can_advance=can_advance)
        self._text.set_text("\n".join(lines))
        self.set_class(view.rollback_started is not None, "-alert")
        self.data_at = view.last_ts
