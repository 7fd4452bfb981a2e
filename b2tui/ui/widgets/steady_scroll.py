"""Scroll views whose scrollbars are not repainted by layouts that changed nothing.

Textual's ``ScrollView._size_updated`` compares the virtual size the compositor passes
(the region's) with the view's own (its content's); for a ``DataTable`` or ``RichLog``
they always differ, so every screen layout refreshes the view's scrollbars: at 120×40
the pods and checklist tables' vertical bars were a third of the bytes an idle canary
hold sent. :class:`SteadyScroll` skips the update when the same sizes come again with
the view's own sizes unchanged since it last ran: then it would only have set the same
values and repainted identical cells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size
from textual.widgets import DataTable, RichLog

if TYPE_CHECKING:
    from textual.scroll_view import ScrollView

    _Base = ScrollView
else:
    _Base = object


class SteadyScroll(_Base):
    """Mixin for a ``ScrollView`` subclass (before it in the bases)."""

    _steady: tuple[object, ...] | None = None
    _steady_result = False

    def _steady_key(
        self, size: Size, virtual_size: Size, container_size: Size
    ) -> tuple[object, ...]:
        return (
            size,
            virtual_size,
            container_size,
            self._size,
            self._container_size,
            self.virtual_size,
            self.styles.gutter.totals,
            self.show_vertical_scrollbar,
            self.show_horizontal_scrollbar,
        )

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        key = self._steady_key(size, virtual_size, container_size)
        if key == self._steady:
            return self._steady_result
        result = super()._size_updated(size, virtual_size, container_size, layout)
        self._steady = self._steady_key(size, virtual_size, container_size)
        self._steady_result = result
        return result


class SteadyDataTable(SteadyScroll, DataTable[str]):
    """A ``DataTable`` whose scrollbars follow its size, not every layout."""


class SteadyRichLog(SteadyScroll, RichLog):
    """A ``RichLog`` whose scrollbars follow its size, not every layout."""
