"""Readiness items and manual smoke checks: state, owner, who signed and when."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.widgets import DataTable

from b2tui.domain.view import RunView
from b2tui.ui.render import CHECK_COLUMNS, blockers_text, check_row
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel
from b2tui.ui.widgets.steady_scroll import SteadyDataTable


class ChecklistPanel(Panel):
    """The checklist as a table whose selected row ``space`` signs off; blockers named above.

    Rows are keyed by item and updated in place, so the cursor stays on the item the
    operator chose while automatic checks answer around it.
    """

    BORDER_TITLE = "Checklist"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, tuple[str, ...]] = {}
        self._waiting: set[str] = set()
        self._columns: tuple[str, ...] = tuple(k for k, _ in CHECK_COLUMNS)
        self._blockers = QuietLabel("no checklist yet", id="blockers")
        self._table: DataTable[str] = SteadyDataTable(id="checklist-table", cursor_type="row")

    def compose(self) -> ComposeResult:
        # Columns are added here, not in __init__: a DataTable needs its app for that.
        for key, label in CHECK_COLUMNS:
            self._table.add_column(label, key=key)
        yield self._blockers
        yield self._table

    @property
    def table(self) -> DataTable[str]:
        return self._table

    def on_resize(self) -> None:
        self._fit()

    def _cells(self, row: tuple[str, ...]) -> tuple[str, ...]:
        keys = [k for k, _ in CHECK_COLUMNS]
        return tuple(cell for key, cell in zip(keys, row, strict=True) if key in self._columns)

    def _fit(self) -> None:
        """Leave the owner out when the table would not fit (the blockers line above
        names the owners): never a horizontal scrollbar."""
        width = self.content_region.width - 2
        if width <= 0:
            return
        natural = [
            max([len(label), *(len(r[i]) for r in self._shown.values())]) + 2
            for i, (_, label) in enumerate(CHECK_COLUMNS)
        ]
        keys = tuple(k for k, _ in CHECK_COLUMNS)
        columns = keys if sum(natural) <= width else keys[:-1]
        if columns == self._columns:
            return
        table = self._table
        keep = self.selected_item
        self._columns = columns
        table.clear(columns=True)
        for key, label in CHECK_COLUMNS:
            if key in columns:
                table.add_column(label, key=key)
        for key, row in self._shown.items():
            table.add_row(*self._cells(row), key=key)
        if keep is not None:
            self.select_item(keep)

    @property
    def selected_item(self) -> str | None:
        """Key of the item under the cursor, None when the list is empty."""
        table = self.table
        if not table.row_count:
            return None
        row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if row.value is None else str(row.value)

    def select_item(self, key: str) -> None:
        """Move the cursor to ``key``."""
        self.table.move_cursor(row=self.table.get_row_index(key))

    def select_first_signable(self, view: RunView, signable: Callable[[str], bool]) -> None:
        """Put the cursor on the first item ``space`` can sign, unless it is on one."""
        current = self.selected_item
        if current is not None and signable(current):
            return
        for key in view.checks:
            if key in self._shown and signable(key):
                self.select_item(key)
                return

    def show_view(self, view: RunView) -> None:
        """Merge the view's checklist into the table."""
        table = self.table
        first = not self._shown
        for key, check in view.checks.items():
            row = check_row(check)
            old = self._shown.get(key)
            if old is None:
                table.add_row(*self._cells(row), key=key)
            elif old != row:
                for (col, _), before, after in zip(CHECK_COLUMNS, old, row, strict=True):
                    if before != after and col in self._columns:
                        table.update_cell(key, col, after, update_width=True)
            self._shown[key] = row
        self._fit()
        self._follow_new_sign_offs(view, move=not first)
        blockers = self._blockers
        phase = view.phase.value if view.phase is not None else ""
        group = phase if phase in ("smoke", "monitoring") else "readiness"
        text = blockers_text(view.checks.values(), group)
        blockers.set_text(text)
        blockers.set_class(text.startswith(("blocked", "failed")), "-blocked")
        self.data_at = view.last_ts

    def _follow_new_sign_offs(self, view: RunView, *, move: bool) -> None:
        """When sign-offs appear (smoke's manual checks) and the cursor rests on an item
        nobody can sign, move it to the first new one: ``space`` then signs, as it did
        for readiness. A cursor on a pending item the operator chose stays put; the
        first fill (``move`` False) leaves the cursor to ``3``."""
        waiting = [
            k for k, c in view.checks.items() if c.manual and c.required and c.state == "pending"
        ]
        new = [k for k in waiting if k not in self._waiting]
        self._waiting = set(waiting)
        if move and new and self.selected_item not in self._waiting:
            self.select_item(new[0])
