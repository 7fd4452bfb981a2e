"""Readiness items and manual smoke checks: state, owner, who signed and when."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable

from b2tui.domain.view import RunView
from b2tui.ui.render import CHECK_COLUMNS, blockers_text, check_row
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.quiet_label import QuietLabel


class ChecklistPanel(Panel):
    """The checklist as a table whose selected row ``space`` signs off; blockers named above.

    Rows are keyed by item and updated in place, so the cursor stays on the item the
    operator chose while automatic checks answer around it.
    """

    BORDER_TITLE = "Checklist"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, tuple[str, ...]] = {}

    def compose(self) -> ComposeResult:
        yield QuietLabel("no checklist yet", id="blockers")
        table: DataTable[str] = DataTable(id="checklist-table", cursor_type="row")
        for key, label in CHECK_COLUMNS:
            table.add_column(label, key=key)
        yield table

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#checklist-table", DataTable)

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

    def show_view(self, view: RunView) -> None:
        """Merge the view's checklist into the table."""
        table = self.table
        for key, check in view.checks.items():
            row = check_row(check)
            old = self._shown.get(key)
            if old is None:
                table.add_row(*row, key=key)
            elif old != row:
                for (col, _), before, after in zip(CHECK_COLUMNS, old, row, strict=True):
                    if before != after:
                        table.update_cell(key, col, after)
            self._shown[key] = row
        blockers = self.query_one("#blockers", QuietLabel)
        group = "smoke" if view.phase is not None and view.phase.value == "smoke" else "readiness"
        text = blockers_text(view.checks.values(), group)
        blockers.set_text(text)
        blockers.set_class(text.startswith(("blocked", "failed")), "-blocked")
        self.data_at = view.last_ts
