"""Phases with durations, the current hold or monitoring stage with time left, and the
run's timeline entries (rollbacks and incidents marked)."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from b2tui.domain.view import RunView, TimelineEntry
from b2tui.ui.render import Timing, phase_summary, repeated_line, status_line, timeline_line
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel

MAX_ENTRIES = 200
"""Timeline entries kept on screen (the store keeps them all)."""


class TimelinePanel(Panel):
    """Where the run stands in time. The countdown line is redrawn by the clock tick;
    entries are appended as they arrive; an entry equal to the one before it (a resumed
    run starting the same phase again) is counted on that line instead of repeated."""

    BORDER_TITLE = "Timeline"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries = 0
        self._phases = QuietLabel("not started", id="timeline-phases")
        self._now = QuietLabel("", id="timeline-now")
        self._scroller = VerticalScroll(id="timeline-entries", can_focus=False)
        self._labels: list[QuietLabel] = []
        self._last: tuple[str, str] | None = None
        self._first_ts: datetime | None = None
        self._repeats = 0

    def compose(self) -> ComposeResult:
        yield self._phases
        yield self._now
        yield self._scroller

    def show_view(self, view: RunView, now: datetime, timing: Timing | None = None) -> None:
        """Redraw phases and status; append new timeline entries."""
        self.show_time(view, now, timing)
        new = view.timeline[self._entries :]
        if new:
            self._entries = len(view.timeline)
            labels = [label for entry in new if (label := self._entry(entry)) is not None]
            labels = labels[-MAX_ENTRIES:]
            excess = len(self._labels) + len(labels) - MAX_ENTRIES
            if excess > 0:
                for old in self._labels[:excess]:
                    old.remove()
                self._labels = self._labels[excess:]
            self._labels += labels
            if labels:
                self._scroller.mount_all(labels)
        self.data_at = view.last_ts

    def on_mount(self) -> None:
        # New entries are laid out after show_view returns: follow the entries as they
        # grow, not at once (the end would be the old end).
        self.watch(self._scroller, "virtual_size", self._follow, init=False)

    def on_resize(self) -> None:
        # The newest entries stay in sight when the terminal (an SSH window) is resized.
        self._follow()

    def _follow(self) -> None:
        self._scroller.scroll_end(animate=False)

    def _entry(self, entry: TimelineEntry) -> QuietLabel | None:
        """A new label for ``entry``, or None when it only repeats the last line."""
        key = (entry.text, entry.level)
        if key == self._last and self._labels:
            self._repeats += 1
            self._labels[-1].set_text(repeated_line(entry.ts, entry.text, self._repeats))
            return None
        self._last, self._repeats = key, 1
        label = QuietLabel(classes=f"entry -{entry.level}")
        label.set_text(timeline_line(entry.ts, entry.text))
        return label

    def show_time(self, view: RunView, now: datetime, timing: Timing | None = None) -> None:
        """Redraw what depends on the clock: running phase duration, hold and stage left."""
        self._phases.set_text(phase_summary(view, now))
        status = self._now
        status.set_text(status_line(view, now, timing))
        alert = view.rollback_started is not None or (
            view.outcome is not None and view.outcome.value != "succeeded"
        )
        status.set_class(alert, "-alert")
        status.set_class(view.paused and not alert, "-warn")

    @property
    def entry_texts(self) -> list[str]:
        """Texts of the entries on screen (oldest first)."""
        return [label.text for label in self._labels]
