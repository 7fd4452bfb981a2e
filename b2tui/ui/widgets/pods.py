"""The pods table: updated in place by pod name, sortable, filterable, fitted to its panel.

A poll costs what changed, not the table's size: rows come from a
:class:`~b2tui.ui.pod_rows.PodRows` (only changed pods and due ages are converted), the
filter is applied to changed rows, the table is re-sorted only when a shown pod's typed
sort key changed or a row came, and a column is re-measured only when its widest cell did.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, ClassVar, Self

from rich.cells import cell_len
from rich.style import Style
from textual import on
from textual._two_way_dict import TwoWayDict
from textual._types import SegmentLines
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Region
from textual.reactive import reactive
from textual.widgets import DataTable, Input
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

from b2tui.ports import PodInfo
from b2tui.ui.pod_rows import PodRows, RowChanges, Widths
from b2tui.ui.render_pods import (
    POD_COLUMNS,
    SORTABLE_POD_COLUMNS,
    fit_pod_columns,
    middle_ellipsis,
    pod_matches,
    pod_sort_key,
)
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.steady_scroll import SteadyDataTable

SCROLLBAR = 2
"""Cells kept free for the table's vertical scrollbar."""


class NameCell(str):
    """A name cell as shown (maybe shortened) that still knows the pod's full name."""

    full: str

    def __new__(cls, shown: str, full: str) -> NameCell:
        cell = super().__new__(cls, shown)
        cell.full = full
        return cell


class PodTable(SteadyDataTable):
    """A DataTable that removes and updates many rows at once.

    ``DataTable.remove_row`` re-indexes every remaining row and re-checks the cursor
    against a freshly built row list, per row removed: a rollout that deletes 20 of
    5,000 pods paid that 20 times a poll, and a filter hiding 4,999 rows 4,999 times.
    :meth:`remove_rows` does what ``remove_row`` does, once for all of them.
    ``update_cell`` repaints the table per cell; :meth:`set_cells` repaints the cells it
    set (5,000 pods created together cross a minute of age together).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cells_drawn: LRUCache[tuple[object, ...], SegmentLines] = LRUCache(4096)
        """Rendered cells by what they show and how (not by the table's update count)."""

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        # DataTable keys its cell cache on a count that every update bumps, so a row in
        # which one cell changed (a pod's age) rendered all of its cells again through
        # Rich, ~0.2 ms each. Keyed on the cell's text and every input of its rendering,
        # only the changed cell is rendered; the header and row labels are DataTable's.
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:  # the header, a row label
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key][column_key]
        key = (
            row_key,
            column_key,
            row_index,  # the segments carry it as mouse meta
            type(value),
            value,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
            self.cell_padding,
            self._pseudo_class_state,
        )
        lines = self._cells_drawn.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._cells_drawn[key] = lines
        return lines

    def set_cells(self, cells: Iterable[tuple[str, str, str]]) -> None:
        """Set (row key, column key, text) cells that exist, without re-measuring.

        Repaints the cells that changed and are in view, not the table: a whole refresh
        sends every visible row and the scrollbar (~2.5 KB at 120×40) for a poll in which
        ten young pods' ages went from "4s" to "6s".
        """
        data, changed = self._data, list[tuple[RowKey, ColumnKey]]()
        for row, column, value in cells:
            row_key, column_key = RowKey(row), ColumnKey(column)
            data[row_key][column_key] = value
            changed.append((row_key, column_key))
        # Every render cache is keyed on the count: cells repainted later render afresh.
        self._update_count += 1
        if len(changed) > self.size.area:
            self.refresh()
            return
        rows, columns = self._row_locations, self._column_locations
        x, lefts, widths = self._row_label_column_width, dict[ColumnKey, int](), {}
        for col in self.ordered_columns:
            lefts[col.key], widths[col.key] = x, col.get_render_width(self)
            x += widths[col.key]
        top = self.header_height if self.show_header else 0
        for row_key, column_key in changed:
            index = rows.get(row_key)
            if index is not None and column_key in columns:
                # Every row is one line (``add_row``'s default; the panel never passes
                # a height): row i is drawn at line i below the header.
                region = Region(lefts[column_key], top + index, widths[column_key], 1)
                self._refresh_region(region)

    _held: list[tuple[bool, bool, bool]] | None = None
    """Whole-table refreshes asked for inside :meth:`_update_dimensions`, held back."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Assigning ``virtual_size`` repaints the whole table. When it only lost height
        # (rows removed, columns as wide as before), :meth:`remove_rows` has repainted
        # the rows that moved: lay out (the scrollbar follows) and repaint nothing else.
        before, self._held = self.virtual_size, []
        try:
            super()._update_dimensions(new_rows)
        finally:
            held, self._held = self._held, None
        after = self.virtual_size
        shrank = after.width == before.width and after.height < before.height
        # Off screen (another tab at 80×24) a layout would lay out the whole screen for
        # nothing: the tab switch that shows the table lays it out with its new size.
        shown = self.region.area > 0
        for repaint, layout, recompose in held:
            self.refresh(
                repaint=repaint and not shrank and shown,
                layout=layout and shown,
                recompose=recompose,
            )

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._held is not None and not regions:
            self._held.append((repaint, layout, recompose))
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def remove_rows(self, keys: Collection[str]) -> None:
        """Remove rows at once; repaint the rows that moved up, not those above them.

        ``DataTable.remove_row`` re-indexes every remaining row and repaints the whole
        table, per row: scaling a stable track down by one pod below the panel's window
        repainted every visible row. The scrollbar follows on idle, when the virtual
        size changes.
        """
        rows = self._row_locations
        at = {RowKey(key): rows.get(RowKey(key)) for key in keys}
        gone = {key for key, index in at.items() if index is not None}
        if not gone:
            return
        first = min(index for index in at.values() if index is not None)
        kept = [row.key for row in self.ordered_rows if row.key not in gone]
        for row_key in gone:
            for column_key in self._data.pop(row_key):
                self._updated_cells.discard(CellKey(row_key, column_key))
            del self.rows[row_key]
        self._row_locations = TwoWayDict({k: i for i, k in enumerate(kept)})
        self._require_update_dimensions = True
        self.check_idle()
        # Clamped as ``remove_row`` does, but only when out of range: re-assigning an
        # unchanged coordinate repaints its cell, and on the cursor's line that merges
        # with any changed cell into a repaint of the row between them.
        last = self.row_count - 1
        if self.cursor_coordinate.row > last:
            self.cursor_coordinate = self.cursor_coordinate
        if self.hover_coordinate.row > last:
            self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        # From the first removed row down, in virtual (scrolled) coordinates; one line
        # per row as in :meth:`set_cells`.
        top = (self.header_height if self.show_header else 0) + first
        width = max(self.size.width, self.virtual_size.width)
        self._refresh_region(Region(0, top, width, max(self.virtual_size.height - top, 1)))


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
        self._model = PodRows()
        self._shown: dict[str, tuple[str, ...]] = {}
        """Cells of each row in the table, as shown (the name maybe shortened)."""
        self._shown_widths: dict[str, Widths] = {}
        """Widths of the shown cells per column but the name's (names never update)."""
        self._sort_keys: dict[str, tuple[object, ...]] = {}
        """Every pod's sort key for :attr:`sort_column`."""
        self._title = ""
        self._columns: tuple[str, ...] = ()
        self._name_width = 0
        self._input = Input(
            placeholder="filter pods: enter keeps it, esc clears it", id="pods-filter"
        )
        # A blinking cursor repaints twice a second: bytes on a slow SSH link for nothing.
        self._input.cursor_blink = False
        self._table = PodTable(id="pods-table", cursor_type="row", zebra_stripes=True)

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
        """Merge a whole poll into the table (``at``: the run clock at the poll)."""
        self._show(self._model.merge(pods, at), at)

    def show_changes(self, changed: list[PodInfo], removed: Iterable[str], at: datetime) -> None:
        """Apply a poll's changes: pods new or changed, and the names of pods gone."""
        self._show(self._model.apply(changed, removed, at), at)

    def _show(self, changes: RowChanges, at: datetime) -> None:
        self.error = None
        self.data_at = at
        keys, column, now = self._sort_keys, self.sort_column, self._model.pods
        for name in changes.removed:
            del keys[name]
        moved = False
        for name in changes.pods:
            key = pod_sort_key(column, now[name])
            if keys.get(name) != key:
                keys[name] = key
                moved = moved or name in self._shown
        if not self._fit():
            self._apply(changes, moved)

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
        column = self.sort_column
        self._sort_keys = {n: pod_sort_key(column, p) for n, p in self._model.pods.items()}
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
        columns, name_width = fit_pod_columns(width, self._model.natural())
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
        self._shown_widths = {c: Widths() for c in columns if c != "name"}

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
        """Show every row that matches the filter (a new filter, or a rebuilt table)."""
        rows, needle = self._model.rows, self.filter_text
        wanted = {n for n, r in rows.items() if pod_matches(r, needle)}
        gone = {n for n in self._shown if n not in wanted}
        self._apply(RowChanges(rows=wanted, removed=gone), moved=False)

    def _apply(self, changes: RowChanges, moved: bool) -> None:
        """Bring the table in line with ``changes``; sort when a row came or ``moved``."""
        table, rows, needle, shown = self._table, self._model.rows, self.filter_text, self._shown
        # Per column, the widest cell added or updated here, and its row.
        widest: dict[str, tuple[int, str]] = {}
        gone = {n for n in changes.removed if n in shown}
        wanted = []
        for name in changes.rows:
            row = rows[name]
            if pod_matches(row, needle):
                wanted.append((name, row))
            elif name in shown:
                gone.add(name)
        self._remove(gone)
        added = False
        updates: list[tuple[str, str, str]] = []
        for name, row in wanted:
            cells = self._cells(row)
            old = shown.get(name)
            if old is None:
                table.add_row(*cells, key=name)
                added = True
                self._count(name, zip(self._columns, cells, strict=True), widest)
            elif old != cells:
                changed = [
                    (col, before, after)
                    for col, before, after in zip(self._columns, old, cells, strict=True)
                    if before != after
                ]
                for col, before, after in changed:
                    updates.append((name, col, after))
                    self._shown_widths[col].remove(cell_len(before))
                self._count(name, ((col, after) for col, _, after in changed), widest)
            shown[name] = cells
        if updates:
            table.set_cells(updates)
        self._fit_widths(widest)
        if added or moved:
            self._sort()
        self._update_title()

    def _remove(self, names: set[str]) -> None:
        self._table.remove_rows(names)
        for name in names:
            for col, cell in zip(self._columns, self._shown.pop(name), strict=True):
                if col != "name":
                    self._shown_widths[col].remove(cell_len(cell))

    def _count(
        self, name: str, cells: Iterable[tuple[str, str]], widest: dict[str, tuple[int, str]]
    ) -> None:
        """Count row ``name``'s new ``cells`` (column, text) in the shown widths."""
        for col, cell in cells:
            if col == "name":
                continue
            width = cell_len(cell)
            self._shown_widths[col].add(width)
            if width >= widest.get(col, (-1, ""))[0]:
                widest[col] = (width, name)

    def _fit_widths(self, widest: dict[str, tuple[int, str]]) -> None:
        """Have the table re-measure a column whose widest shown cell changed, no other.

        Asked to fit a cell narrower than its column, a DataTable measures every cell of
        that column again, on the UI thread: with thousands of rows that took seconds
        per poll when every changed cell asked. Now one cell asks, and only when the
        column's width is wrong; when it grew, that cell is the widest and nothing is
        rescanned.
        """
        table = self._table
        for col, (_, name) in widest.items():
            column = table.columns[ColumnKey(col)]
            if self._shown_widths[col].widest(column.label.cell_len) != column.content_width:
                cell = self._shown[name][self._columns.index(col)]
                table.update_cell(name, col, cell, update_width=True)

    def _sort(self) -> None:
        if not self._shown:
            return
        keys = self._sort_keys

        # Sort on the name cell and look the pod's key up: typed keys (restarts as
        # numbers, age by creation time) kept per pod, not the display strings.
        def key(cell: NameCell) -> tuple[object, ...]:
            return keys[cell.full]

        self._table.sort("name", key=key)

    def _update_title(self) -> None:
        total, shown = len(self._model.rows), len(self._shown)
        count = f"{shown}/{total}" if self.filter_text else str(total)
        flt = f" /{self.filter_text}" if self.filter_text else ""
        title = f"Pods {count} · sort {self.sort_column}{flt}"
        if title != self._title:
            self._title = title
            self.set_title(Content(title))
