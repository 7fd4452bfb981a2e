"""One gate of one track: name, sparkline on the limit's scale, value vs limit, status."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal

from b2tui.domain.events import GateSampled
from b2tui.ui.render_gates import (
    GATE_NAMES,
    gate_status_text,
    gate_value_text,
    is_minimum,
    track_label,
)
from b2tui.ui.widgets.gate_spark import GateSpark
from b2tui.ui.widgets.quiet_label import QuietLabel

STATUS_CLASSES = ("-pass", "-fail", "-unknown")
"""One class per gate status, so NO DATA has its own look (never a pass's)."""


class GateRow(Horizontal):
    """``canary err ▁▁▂▁▅ 0.05% < 0.10% pass`` with a class per status.

    Children are created with the row and held by reference: drawing never queries the
    DOM, so a sample that arrives while the row mounts or unmounts cannot fail.
    """

    def __init__(self, track: str | None, gate: str) -> None:
        super().__init__(classes="gate-row -unknown")
        self.track = track
        self.gate = gate
        self.sample: GateSampled | None = None
        """The newest sample shown."""
        self.history: tuple[float | None, ...] = ()
        """Recent values (None: no data), oldest first."""
        name = f"{track_label(track)} {GATE_NAMES.get(gate, gate)}"
        self._name_label = QuietLabel(name, classes="gate-name")
        self._spark = GateSpark(classes="gate-spark")
        self._value = QuietLabel("", classes="gate-value")
        self._status = QuietLabel("", classes="gate-status")

    def compose(self) -> ComposeResult:
        yield self._name_label
        yield self._spark
        yield self._value
        yield self._status

    def show(self, sample: GateSampled, history: Iterable[float | None]) -> None:
        """Show ``sample``; ``history`` feeds the sparkline (only read for a new sample)."""
        if sample is self.sample:
            return
        self.sample = sample
        self.history = tuple(history)
        self._spark.show(self.history, sample.threshold, minimum=is_minimum(sample))
        self._value.set_text(gate_value_text(sample))
        self._status.set_text(gate_status_text(sample.status))
        status = f"-{sample.status}" if f"-{sample.status}" in STATUS_CLASSES else "-unknown"
        for cls in STATUS_CLASSES:
            self.set_class(cls == status, cls)
        self.tooltip = sample.reason or None
