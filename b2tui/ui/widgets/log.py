"""Command output, build and push progress, and engine notices."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog

from b2tui.domain.view import RunView
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.steady_scroll import SteadyRichLog

MAX_LINES = 2000
"""Lines kept in the widget's scrollback."""


class LogPanel(Panel):
    """Appends the view's new log lines; never rewrites old ones."""

    BORDER_TITLE = "Log"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: tuple[datetime, str, str] | None = None
        self._pending: RunView | None = None
        self._view = SteadyRichLog(
            id="log-view", max_lines=MAX_LINES, wrap=True, markup=False, min_width=20
        )

    def compose(self) -> ComposeResult:
        yield self._view

    def on_resize(self) -> None:
        if self._pending is not None:
            self.call_after_refresh(self._flush)

    def _flush(self) -> None:
        if self._pending is not None:
            self.show_view(self._pending)

    @property
    def log_view(self) -> RichLog:
        return self._view

    def show_view(self, view: RunView) -> None:
        """Write lines added to ``view.log`` since the last call.

        The view keeps a bounded deque; the newest line already written is found by
        identity, so lines are never written twice even after old ones were evicted.
        """
        lines = view.log
        start = 0
        if self._last is not None:
            for i in range(len(lines) - 1, -1, -1):
                if lines[i] is self._last:
                    start = i + 1
                    break
        if start >= len(lines):
            return
        log = self.log_view
        # Wrap at the panel's width: RichLog otherwise measures against the console's
        # width, which is not the panel's in the grid layout. Before layout the width
        # is unknown: write once it is.
        width = log.scrollable_content_region.width
        if not width:
            # Not laid out yet, or on a hidden tab: write when it gets a size.
            self._pending = view
            return
        self._pending = None
        for i in range(start, len(lines)):
            ts, source, line = lines[i]
            text = Text(f"{ts:%H:%M:%S} ", style="dim")
            text.append(f"{source:<8} ", style="bold")
            text.append(line, style="reverse" if source == "alert" else "")
            log.write(text, width=width)
        self._last = lines[-1]
        self.data_at = view.last_ts
