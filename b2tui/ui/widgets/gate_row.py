"""One gate of one track: name, sparkline on the limit's scale, value vs limit, status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from b2tui.domain.events import GateSampled
from b2tui.ui.render_gates import (
    GATE_NAMES,
    gate_status_text,
    gate_value_text,
    is_minimum,
    spark_cells,
    track_label,
)

STATUS_CLASSES = ("-pass", "-fail", "-unknown")
"""One class per gate status, so NO DATA has its own look (never a pass's)."""

NAME_WIDTH, SPARK_MIN, VALUE_WIDTH, STATUS_WIDTH = 11, 8, 17, 7
"""Cells of the row's parts; the sparkline takes what is left (one blank cell each side)."""

Cell = tuple[str, str]
"""One cell of the row as drawn: (character, part), the part naming its style."""


def row_cells(
    name: str,
    history: tuple[float | None, ...],
    threshold: float,
    minimum: bool,
    value: str,
    status: str,
    width: int,
) -> list[Cell]:
    """The row at ``width`` cells: name, blank, sparkline, blank, value, status (right
    aligned); cropped at ``width`` when the parts' minimum widths do not fit."""
    spark_width = max(SPARK_MIN, width - NAME_WIDTH - VALUE_WIDTH - STATUS_WIDTH - 2)
    cells = _part(name, NAME_WIDTH, "name")
    cells.append((" ", "row"))
    spark = spark_cells(history, threshold, spark_width, minimum=minimum)
    cells += spark
    cells += [(" ", "row")] * (spark_width - len(spark) + 1)
    cells += _part(value, VALUE_WIDTH, "value")
    cells += [(c, "status") for c in set_cell_size(status.rjust(STATUS_WIDTH), STATUS_WIDTH)]
    return cells[:width]


def _part(text: str, width: int, part: str) -> list[Cell]:
    """``text`` cropped to ``width`` cells in ``part``'s style, padded in the row's (a
    selected name is reversed under its letters only)."""
    shown = set_cell_size(text, width).rstrip(" ") if cell_len(text) > width else text
    return [(c, part) for c in shown] + [(" ", "row")] * (width - cell_len(shown))


class GateRow(Widget):
    """``canary err █│▁▁▂▁▅ 0.05% < 0.10%   pass`` with a class per status.

    One widget draws the whole line: a sample repaints one widget, not five (a row was a
    container of four widgets, and every frame walked them all), and only the cells that
    read differently (:meth:`show`). The sparkline runs from 0 to the larger of its
    values and the limit (:func:`~b2tui.ui.render_gates.spark_cells`): first the limit's
    height (``gate-row--limit``), an axis, then the samples, those that broke the limit
    in ``gate-row--over``. Textual's ``Sparkline`` scales to its own min/max, so a steady
    0.01 % would draw as a full bar.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "gate-row--name",
        "gate-row--value",
        "gate-row--status",
        "gate-row--ok",
        "gate-row--over",
        "gate-row--limit",
    }

    DEFAULT_CSS = """
    GateRow { height: 1; }
    GateRow > .gate-row--ok { color: $success; }
    GateRow > .gate-row--over { color: $error; text-style: bold; }
    GateRow > .gate-row--limit { color: $warning; }
    """

    def __init__(self, track: str | None, gate: str) -> None:
        super().__init__(classes="gate-row -unknown")
        self.track = track
        self.gate = gate
        self.sample: GateSampled | None = None
        """The newest sample shown."""
        self.history: tuple[float | None, ...] = ()
        """Recent values (None: no data), oldest first."""
        self.gate_name = f"{track_label(track)} {GATE_NAMES.get(gate, gate)}"
        self._drawn: tuple[int, list[Cell]] | None = None
        """(width, cells) of the line on screen, to repaint only what changed."""
        self._styles: dict[str, Style] | None = None
        """The parts' component styles, kept until Textual restyles this widget (its
        classes, an ancestor's focus, the theme): computing them is most of a render."""

    def show(self, sample: GateSampled, history: Iterable[float | None]) -> None:
        """Show ``sample``; ``history`` feeds the sparkline (only read for a new sample)."""
        if sample is self.sample:
            return
        self.sample = sample
        self.history = tuple(history)
        status = f"-{sample.status}" if f"-{sample.status}" in STATUS_CLASSES else "-unknown"
        for cls in STATUS_CLASSES:
            self.set_class(cls == status, cls)  # a change restyles and repaints the row
        self.tooltip = sample.reason or None
        self._repaint_changes()

    def _cells(self, width: int) -> list[Cell]:
        sample = self.sample
        if sample is None:
            return row_cells(self.gate_name, (), 0.0, False, "", "", width)
        return row_cells(
            self.gate_name,
            self.history,
            sample.threshold,
            is_minimum(sample),
            gate_value_text(sample),
            gate_status_text(sample.status),
            width,
        )

    def _repaint_changes(self) -> None:
        """Repaint the span of cells that read differently from the line on screen."""
        width = self.size.width
        drawn = self._drawn
        if not self.is_mounted or drawn is None or drawn[0] != width:
            self.refresh()
            return
        old, new = drawn[1], self._cells(width)
        if len(old) != len(new) or any(cell_len(c) != 1 for c, _ in new):
            self.refresh()
            return
        changed = [x for x, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        if changed:
            self.refresh(Region(changed[0], 0, changed[-1] - changed[0] + 1, 1))

    def notify_style_update(self) -> None:
        self._styles = None
        self._drawn = None  # restyled: the next show repaints the whole line
        super().notify_style_update()

    def render(self) -> Text:
        width = self.content_region.width or self.size.width
        cells = self._cells(width)
        self._drawn = (width, cells)
        styles = self._styles
        if styles is None:
            styles = self._styles = {
                part: self.get_component_rich_style(f"gate-row--{part}")
                for part in ("name", "value", "status", "ok", "over", "limit")
            }
        text = Text(no_wrap=True, overflow="crop", end="")
        run, part = "", ""
        for char, kind in cells:
            if kind != part and run:
                text.append(run, styles.get(part))
                run = ""
            run, part = run + char, kind
        if run:
            text.append(run, styles.get(part))
        return text
