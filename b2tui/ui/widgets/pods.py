"""The pods table: updated in place by pod name, sortable, filterable, fitted to its panel."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import DataTable, Input

from b2tui.ports import PodInfo
from b2tui.ui.render_pods import (
    POD_COLUMNS,
    SORTABLE_POD_COLUMNS,
    fit_pod_columns,
    middle_ellipsis,
    pod_matches,
    pod_row,
    pod_sort_key,
)
from b2tui.ui.widgets.panel import Panel

SCROLLBAR = 2
"""Cells kept free for the table's vertical scrollbar."""


class NameCell(str):
    """A name cell as shown (maybe shortened) that still knows the pod's full name."""

    full: str

    def __new__(cls, shown: str, full: str) -> NameCell:
        cell = super().__new__(cls, shown)
        cell.full = full
        return cell


class PodsPanel(Panel):
    """Pods of the environment: name, track, status, ready, restarts, age, image tag.

    Rows are keyed by pod name and updated cell by cell, so a poll that changes one
    pod repaints one row, and the cursor and scroll position survive every poll. The
    columns fit the panel: the image tag goes first, then names are shortened in the
    middle, then age and track go; restarts always show. There is never a horizontal
    scrollbar.
    """

    BORDER_TITLE = "Pods"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="pods.clear_filter",
            tooltip="Clear the filter and show every pod",
        ),
    ]

    sort_column: reactive[str] = reactive("name", init=False)
    """Column the rows are ordered by (one of ``SORTABLE_POD_COLUMNS``)."""
    filter_text: reactive[str] = reactive("", init=False)
    """Case-insensitive substring a row must contain to be shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pods: dict[str, PodInfo] = {}
        self._rows: dict[str, tuple[str, ...]] = {}
        self._shown: dict[str, tuple[str, ...]] = {}
        self._title = ""
        self._columns: tuple[str, ...] = ()
        self._name_width = 0
        self._input = Input(
            placeholder="filter pods: enter keeps it, esc clears it", id="pods-filter"
        )
        # A blinking cursor repaints twice a second: bytes on a slow SSH link for nothing.
        self._input.cursor_blink = False
        self._table: DataTable[str] = DataTable(
            id="pods-table", cursor_type="row", zebra_stripes=True
        )

    def compose(self) -> ComposeResult:
        # Columns are added here, not in __init__: a DataTable needs its app for that.
        self._set_columns(tuple(k for k, _ in POD_COLUMNS), 0)
        yield self._input
        yield self._table

    @property
    def table(self) -> DataTable[str]:
        return self._table

    @property
    def columns(self) -> tuple[str, ...]:
        """Column keys on screen now."""
        return self._columns

    @property
    def shown_names(self) -> list[str]:
        """Pod names in display order (after filter and sort)."""
        return [str(row.key.value) for row in self.table.ordered_rows]

    def show_pods(self, pods: list[PodInfo], at: datetime) -> None:
        """Merge a poll's result into the table (``at``: the run clock at the poll)."""
        self._pods = {p.name: p for p in pods}
        self._rows = {p.name: pod_row(p, at) for p in pods}
        self.error = None
        self.data_at = at
        if not self._fit():
            self._sync()

    def show_error(self, error: str) -> None:
        """The poll failed: keep the last rows, mark them stale with the error."""
        self.error = error

    def cycle_sort(self) -> str:
        """Sort by the next sortable column; returns its key."""
        i = SORTABLE_POD_COLUMNS.index(self.sort_column)
        self.sort_column = SORTABLE_POD_COLUMNS[(i + 1) % len(SORTABLE_POD_COLUMNS)]
        return self.sort_column

    def open_filter(self) -> None:
        """Show the filter input and focus it."""
        self.add_class("-filtering")
        self._input.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.has_class("-filtering") or bool(self.filter_text)
        return True

    def action_clear_filter(self) -> None:
        """Esc: empty the filter (as k9s does), hide it, back to the table."""
        self._input.value = ""
        self.filter_text = ""
        self.remove_class("-filtering")
        self._table.focus()

    def watch_sort_column(self) -> None:
        self._sort()
        self._update_title()

    def watch_filter_text(self) -> None:
        self._sync()

    def on_resize(self) -> None:
        self._fit()

    @on(Input.Changed, "#pods-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#pods-filter")
    def _filter_submitted(self) -> None:
        if not self.filter_text:
            self.remove_class("-filtering")
        self._table.focus()

    def _fit(self) -> bool:
        """Choose the columns for the panel's width; True when the table was rebuilt."""
        width = self.content_region.width - SCROLLBAR
        if width <= 0:
            return False
        natural = {}
        for i, (key, label) in enumerate(POD_COLUMNS):
            natural[key] = max([len(label), *(len(r[i]) for r in self._rows.values())])
        columns, name_width = fit_pod_columns(width, natural)
        if (columns, name_width) == (self._columns, self._name_width):
            return False
        # Column widths only grow in a DataTable: a new fit rebuilds it (a resize, or a
        # longer status appearing), keeping the operator's row under the cursor.
        table = self._table
        keep = None
        if table.row_count:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self._set_columns(columns, name_width)
        self._sync()
        if keep is not None and keep in self._shown:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        return True

    def _set_columns(self, columns: tuple[str, ...], name_width: int) -> None:
        table = self._table
        table.clear(columns=True)
        for key, label in POD_COLUMNS:
            if key in columns:
                table.add_column(label, key=key)
        self._columns, self._name_width = columns, name_width
        self._shown = {}

    def _cells(self, row: tuple[str, ...]) -> tuple[str, ...]:
        name = row[0]
        shown = middle_ellipsis(name, self._name_width) if self._name_width else name
        cells: list[str] = []
        for (key, _), cell in zip(POD_COLUMNS, row, strict=True):
            if key == "name":
                cells.append(NameCell(shown, name))
            elif key in self._columns:
                cells.append(cell)
        return tuple(cells)

    def _sync(self) -> None:
        table = self._table
        wanted = {
            n: self._cells(r) for n, r in self._rows.items() if pod_matches(r, self.filter_text)
        }
        changed = False
        for name in [n for n in self._shown if n not in wanted]:
            table.remove_row(name)
            del self._shown[name]
            changed = True
        for name, row in wanted.items():
            old = self._shown.get(name)
            if old is None:
                table.add_row(*row, key=name)
                changed = True
            elif old != row:
                for col, before, after in zip(self._columns, old, row, strict=True):
                    if before != after:
                        table.update_cell(name, col, after, update_width=True)
                        changed = changed or col in ("track", "status", "restarts")
            self._shown[name] = row
        if changed:
            self._sort()
        self._update_title()

    def _sort(self) -> None:
        if not self._shown:
            return
        column = self.sort_column
        pods = self._pods

        # Sort on the name cell and look the pod up: typed keys (restarts as numbers,
        # age by creation time) rather than the display strings.
        def key(cell: str) -> tuple[object, ...]:
            name = getattr(cell, "full", cell)
            pod = pods.get(name)
            return pod_sort_key(column, pod) if pod is not None else (name,)

        self._table.sort("name", key=key)

    def _update_title(self) -> None:
        total, shown = len(self._rows), len(self._shown)
        count = f"{shown}/{total}" if self.filter_text else str(total)
        flt = f" /{self.filter_text}" if self.filter_text else ""
        title = f"Pods {count} · sort {self.sort_column}{flt}"
        if title != self._title:
            self._title = title
            self.border_title = Content(title)
