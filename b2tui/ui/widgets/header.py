"""The header line: what runs where, who drives, and the run's clock."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal

from b2tui.domain.view import RunView
from b2tui.ui.render import header_text
from b2tui.ui.widgets.quiet_label import QuietLabel


class RunHeader(Horizontal):
    """Service, environment, run id, phase, strategy, driver; the run clock at the right.

    A widget rather than ``App.title``: setting the title after mount repaints the
    whole screen, this repaints one line.
    """

    def compose(self) -> ComposeResult:
        yield QuietLabel(id="run-info")
        yield QuietLabel(id="run-clock")

    def show_run(self, view: RunView, *, driver: str, read_only: bool) -> None:
        """Redraw the run description (after a phase or outcome change)."""
        self.query_one("#run-info", QuietLabel).set_text(
            header_text(view, driver=driver, read_only=read_only)
        )
        self.set_class(view.rolling_back or view.outcome is not None, "-alert")
        self.set_class(read_only, "-watching")

    def show_clock(self, now: datetime, engine_error: str | None = None) -> None:
        """The run clock (``14:03:21 UTC``), or why the engine stopped."""
        text = f"engine stopped: {engine_error}" if engine_error else f"{now:%H:%M:%S} UTC"
        self.query_one("#run-clock", QuietLabel).set_text(text)
