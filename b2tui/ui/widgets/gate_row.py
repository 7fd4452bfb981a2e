"""One gate of one track: name, sparkline of recent values, value vs threshold, status."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Sparkline

from b2tui.domain.events import GateSampled
from b2tui.ui.render import (
    GATE_NAMES,
    gate_status_text,
    gate_value_text,
    sparkline_points,
    track_label,
)
from b2tui.ui.widgets.quiet_label import QuietLabel

STATUS_CLASSES = ("-pass", "-fail", "-unknown")
"""One class per gate status, so NO DATA has its own look (never a pass's)."""


class GateRow(Horizontal):
    """``canary err ▁▂▃▂▁ 0.05% < 0.10% pass`` with a class per status."""

    sample: reactive[GateSampled | None] = reactive(None, init=False)
    """The newest sample of this (track, gate); the sparkline redraws only when it changes."""

    def __init__(self, track: str | None, gate: str) -> None:
        super().__init__(classes="gate-row -unknown")
        self.track = track
        self.gate = gate
        self._history: list[float] = []

    def compose(self) -> ComposeResult:
        name = f"{track_label(self.track)} {GATE_NAMES.get(self.gate, self.gate)}"
        yield QuietLabel(name, classes="gate-name")
        yield Sparkline([], classes="gate-spark")
        yield QuietLabel("", classes="gate-value")
        yield QuietLabel("", classes="gate-status")

    def show(self, sample: GateSampled, history: Iterable[float | None]) -> None:
        """Show ``sample``; ``history`` feeds the sparkline (only read for a new sample)."""
        if sample is self.sample:
            return
        self._history = sparkline_points(history)
        self.sample = sample

    def watch_sample(self) -> None:
        if self.is_mounted:
            self._draw()

    def on_mount(self) -> None:
        # Rows are created with their first sample before they are mounted.
        self._draw()

    def _draw(self) -> None:
        sample = self.sample
        if sample is None:
            return
        spark = self.query_one(Sparkline)
        spark.data = self._history
        # No values at all: draw nothing rather than a flat line that reads as "zero".
        spark.set_class(not self._history, "-empty")
        self.query_one(".gate-value", QuietLabel).set_text(gate_value_text(sample))
        self.query_one(".gate-status", QuietLabel).set_text(gate_status_text(sample.status))
        status = f"-{sample.status}" if f"-{sample.status}" in STATUS_CLASSES else "-unknown"
        for cls in STATUS_CLASSES:
            self.set_class(cls == status, cls)
        self.tooltip = sample.reason or None
