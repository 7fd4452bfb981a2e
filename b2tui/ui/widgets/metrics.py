"""Gate sparklines per track (canary next to stable, or the whole service).

Only current data is shown: samples of the phase the run is in, from the latest
sampling rounds. Staging's samples leave with staging, and a track that stopped being
sampled (the canary after promotion or rollback) leaves the panel rather than keeping
its last ``pass`` on screen.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget

from b2tui.domain.events import GateSampled
from b2tui.domain.gates import Gate
from b2tui.domain.view import RunView
from b2tui.ui.render_gates import current_gates, gate_summary, gates_empty_text, track_label
from b2tui.ui.widgets.gate_detail import GateDetailScreen
from b2tui.ui.widgets.gate_row import GateRow
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel

SPARK_GATES = (Gate.ERROR_RATE, Gate.P95_MS)
"""Gates drawn as sparklines; the others are summarised in one line per track."""

Item = tuple[str, str | None, str]
"""("row", track, gate) or ("summary", track, "")."""


class MetricsPanel(Panel, can_focus=True):
    """Error rate and P95 per track with limits, values and pass / FAIL / NO DATA.

    Focusable (key ``1``): ``↑``/``↓`` select a gate, ``enter`` opens its verdict and
    last values.
    """

    BORDER_TITLE = "Gates"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "up",
            "move(-1)",
            "Prev gate",
            show=False,
            id="gates.up",
            tooltip="Select the gate above",
        ),
        Binding(
            "down",
            "move(1)",
            "Next gate",
            show=False,
            id="gates.down",
            tooltip="Select the gate below",
        ),
        Binding(
            "enter",
            "details",
            "Gate details",
            show=False,
            id="gates.details",
            tooltip="The selected gate's verdict, limit, reason and last values",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stale_after = 12.5
        """Seconds after which a (track, gate) no longer sampled leaves the panel."""
        self._items: list[Item] = []
        self._rows: dict[tuple[str | None, str], GateRow] = {}
        self._summaries: dict[str | None, QuietLabel] = {}
        self._cursor = 0
        self._scroll = VerticalScroll(id="gate-rows", can_focus=False)
        self._empty = QuietLabel("no samples yet", id="gates-empty")

    def compose(self) -> ComposeResult:
        with self._scroll:
            yield self._empty

    @property
    def rows(self) -> list[GateRow]:
        """Gate rows on screen, top to bottom."""
        return [self._rows[(t, g)] for kind, t, g in self._items if kind == "row"]

    @property
    def selected(self) -> GateRow | None:
        rows = self.rows
        return rows[min(self._cursor, len(rows) - 1)] if rows else None

    def show_view(self, view: RunView, now: datetime | None = None) -> None:
        """Redraw from the view's current samples (rows update in place; a new set of
        rows — a phase change, a track leaving — replaces the old set)."""
        gates = current_gates(view, self.stale_after)
        self._empty.set_text(gates_empty_text(view))
        items: list[Item] = []
        for track in dict.fromkeys(t for t, _ in gates):
            items += [("row", track, g) for g in SPARK_GATES if (track, g) in gates]
            if any(t == track and g not in SPARK_GATES for t, g in gates):
                items.append(("summary", track, ""))
        if items != self._items:
            self._rebuild(items)
        for (track, gate), row in self._rows.items():
            row.show(gates[(track, gate)], view.history.get((track, gate), ()))
        for track, label in self._summaries.items():
            others = [s for (t, g), s in gates.items() if t == track and g not in SPARK_GATES]
            label.set_text(f"{track_label(track)}: {gate_summary(others)}")
        self._empty.display = not items
        samples = list(gates.values())
        if samples:
            self.data_at = max(s.ts for s in samples)
        # The source failing is data too: every sample unknown because of an error.
        errors = [s.reason for s in samples if s.value is None and "error" in s.reason.lower()]
        self.error = errors[0] if errors and len(errors) == len(samples) else None

    def show_time(self, view: RunView, now: datetime) -> None:
        """Clock tick: a track whose samples stopped coming leaves the panel."""
        if self._items:
            self.show_view(view, now)

    def _rebuild(self, items: list[Item]) -> None:
        old: list[Widget] = [*self._rows.values(), *self._summaries.values()]
        self._rows, self._summaries = {}, {}
        new: list[Widget] = []
        for kind, track, gate in items:
            if kind == "row":
                row = self._rows[(track, gate)] = GateRow(track, gate)
                new.append(row)
            else:
                label = self._summaries[track] = QuietLabel(classes="gate-summary")
                new.append(label)
        self._items = items
        for widget in old:
            widget.remove()
        if new:
            self._scroll.mount_all(new)
        self._cursor = min(self._cursor, max(0, len(self.rows) - 1))
        self._mark_selected()

    def _mark_selected(self) -> None:
        chosen = self.selected
        for row in self.rows:
            row.set_class(row is chosen, "-selected")

    def action_move(self, delta: int) -> None:
        rows = self.rows
        if not rows:
            self.app.bell()
            return
        self._cursor = max(0, min(len(rows) - 1, self._cursor + delta))
        self._mark_selected()
        chosen = self.selected
        if chosen is not None:
            chosen.scroll_visible(animate=False)

    def action_details(self) -> None:
        row = self.selected
        if row is None or row.sample is None:
            self.app.notify("no gate sampled yet", title="gate details", severity="warning")
            return
        sample: GateSampled = row.sample
        self.app.push_screen(GateDetailScreen(sample, row.history))
