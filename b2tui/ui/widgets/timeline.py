"""Phases with durations, the current hold or monitoring stage with time left, and the
run's timeline entries (rollbacks and incidents marked)."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from b2tui.domain.view import RunView
from b2tui.ui.render import phase_summary, status_line, timeline_line
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel

MAX_ENTRIES = 200
"""Timeline entries kept on screen (the store keeps them all)."""


class TimelinePanel(Panel):
    """Where the run stands in time. The countdown line is redrawn by the clock tick;
    entries are appended as they arrive, never redrawn."""

    BORDER_TITLE = "Timeline"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries = 0

    def compose(self) -> ComposeResult:
        yield QuietLabel("not started", id="timeline-phases")
        yield QuietLabel("", id="timeline-now")
        yield VerticalScroll(id="timeline-entries")

    def show_view(self, view: RunView, now: datetime) -> None:
        """Redraw phases and status; append new timeline entries."""
        self.show_time(view, now)
        new = view.timeline[self._entries :]
        if new:
            scroller = self.query_one("#timeline-entries", VerticalScroll)
            labels = []
            for entry in new:
                label = QuietLabel(classes=f"entry -{entry.level}")
                label.set_text(timeline_line(entry.ts, entry.text))
                labels.append(label)
            labels = labels[-MAX_ENTRIES:]
            excess = len(scroller.children) + len(labels) - MAX_ENTRIES
            if excess > 0:
                scroller.remove_children(list(scroller.children)[:excess])
            scroller.mount_all(labels)
            self._entries = len(view.timeline)
            scroller.scroll_end(animate=False)
        self.data_at = view.last_ts

    def show_time(self, view: RunView, now: datetime) -> None:
        """Redraw what depends on the clock: running phase duration, hold and stage left."""
        self.query_one("#timeline-phases", QuietLabel).set_text(phase_summary(view, now))
        status = self.query_one("#timeline-now", QuietLabel)
        status.set_text(status_line(view, now))
        alert = view.rollback_started is not None or (
            view.outcome is not None and view.outcome.value != "succeeded"
        )
        status.set_class(alert, "-alert")
        status.set_class(view.paused and not alert, "-warn")

    @property
    def entry_texts(self) -> list[str]:
        """Texts of the entries on screen (oldest first)."""
        return [w.text for w in self.query(".entry").results(QuietLabel)]
