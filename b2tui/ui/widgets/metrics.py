"""Gate sparklines per track (canary next to stable, or the whole service)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from b2tui.domain.view import RunView
from b2tui.ui.render import gate_summary, track_label, track_order
from b2tui.ui.widgets.gate_row import GateRow
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel

SPARK_GATES = ("error_rate", "p95_ms")
"""Gates drawn as sparklines; the others are summarised in one line per track."""


class MetricsPanel(Panel):
    """Error rate and P95 per track with thresholds, values and pass / FAIL / NO DATA."""

    BORDER_TITLE = "Gates"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[tuple[str | None, str], GateRow] = {}
        self._summaries: dict[str | None, QuietLabel] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="gate-rows"):
            yield QuietLabel("no samples yet", id="gates-empty")

    def show_view(self, view: RunView) -> None:
        """Redraw from the view's latest samples (rows are added, never recomposed)."""
        if not view.gates:
            return
        self.query_one("#gates-empty").display = False
        container = self.query_one("#gate-rows", VerticalScroll)
        tracks = track_order(t for t, _ in view.gates)
        for track in tracks:
            for gate in SPARK_GATES:
                sample = view.gates.get((track, gate))
                if sample is None:
                    continue
                row = self._rows.get((track, gate))
                if row is None:
                    row = self._rows[(track, gate)] = GateRow(track, gate)
                    container.mount(row, before=self._first_after(track, tracks))
                row.show(sample, view.history.get((track, gate), ()))
            others = [s for (t, g), s in view.gates.items() if t == track and g not in SPARK_GATES]
            if others:
                label = self._summaries.get(track)
                if label is None:
                    label = self._summaries[track] = QuietLabel(classes="gate-summary")
                    container.mount(label, before=self._first_after(track, tracks))
                label.set_text(f"{track_label(track)}: {gate_summary(others)}")
        samples = list(view.gates.values())
        self.data_at = max(s.ts for s in samples)
        # The source failing is data too: every sample unknown because of an error.
        errors = [s.reason for s in samples if s.value is None and "error" in s.reason.lower()]
        self.error = errors[0] if errors and len(errors) == len(samples) else None

    def _first_after(self, track: str | None, tracks: list[str | None]) -> GateRow | None:
        """The first mounted row of a track after ``track``, to keep tracks grouped."""
        later = tracks[tracks.index(track) + 1 :]
        for t in later:
            for gate in SPARK_GATES:
                if (t, gate) in self._rows:
                    return self._rows[(t, gate)]
        return None
