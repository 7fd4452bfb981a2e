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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info = QuietLabel(id="run-info")
        self._clock = QuietLabel(id="run-clock")

    def compose(self) -> ComposeResult:
        yield self._info
        yield self._clock

    def show_run(self, view: RunView, *, driver: str, read_only: bool, operator: str = "") -> None:
        """Redraw the run description (after a phase, pause or outcome change)."""
        self._info.set_text(
            header_text(view, driver=driver, read_only=read_only, operator=operator)
        )
        failed = view.outcome is not None and view.outcome.value != "succeeded"
        self.set_class(view.rolling_back or failed, "-alert")
        self.set_class(view.outcome is not None and not failed, "-done")
        self.set_class(view.paused and not view.finished and not view.rolling_back, "-paused")
        self.set_class(read_only, "-watching")

    def show_clock(self, now: datetime, engine_error: str | None = None) -> None:
        """The run clock to the minute (``14:03 UTC``), or why the engine stopped.

        Seconds would make every idle second a frame; what counts down in seconds says so
        where it is shown (the timeline's status line)."""
        text = f"engine stopped: {engine_error}" if engine_error else f"{now:%H:%M} UTC"
        self._clock.set_text(text)
