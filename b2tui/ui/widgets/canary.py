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

    def compose(self) -> ComposeResult:
        yield QuietLabel("", id="canary-text")

    def show_view(self, view: RunView, now: datetime) -> None:
        """Redraw from the view (also on the clock tick: the hold countdown)."""
        self.query_one("#canary-text", QuietLabel).set_text(
            "\n".join(canary_lines(view, self.steps, now))
        )
        self.set_class(view.rollback_started is not None, "-alert")
        self.data_at = view.last_ts
