"""A label that repaints only what changed: nothing for equal text, the changed cells of
a countdown, and no layout unless its size may change."""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.geometry import Region
from textual.visual import Visual
from textual.widgets import Label


class QuietLabel(Label):
    """A :class:`Label` whose :meth:`set_text` ignores equal text and repaints only the
    cells that read differently.

    ``Static.update`` always repaints the whole label and may lay out the screen again,
    which repaints every scrollbar on it. The control room calls its setters on every
    event and every clock tick, and an idle screen must send next to nothing over a slow
    SSH link: a countdown in a five-line panel sends the few cells that count. Text is
    plain: run data (pod names, error messages) is never parsed as markup.
    """

    def __init__(
        self, text: str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(Content(text), id=id, classes=classes)
        self._text = text
        self._content = Content(text)
        self._rows: tuple[int, list[str]] | None = None
        """(width, rows of text as drawn at that width) for the text shown."""

    def render(self) -> Content:
        # Drawn from our own Content, which set_text replaces without Static.update's
        # whole-widget refresh.
        return self._content

    def set_text(self, text: str) -> None:
        """Show ``text`` (plain) unless it is already shown."""
        if text == self._text:
            return
        old, before = self._text, self._rows_now()
        self._text, self._content = text, Content(text)
        self._rows = None
        after = self._rows_now()
        if before is None or after is None or self._may_resize(old, before, after):
            # Textual measures a widget (and keeps the visual it measured) as its mount is
            # laid out, before the widget counts as mounted, and a refresh clears both
            # only once it does: a label given its text in that window kept width 0 and
            # its old text (an attached room's gates summary row, blank).
            cache = getattr(self, "_layout_cache", None)  # Textual's, of the measured visual
            if cache is not None:
                cache.clear()
            self.clear_cached_dimensions()
            self.refresh(layout=True)
            return
        width = self.size.width
        rows = enumerate(zip(before, after, strict=True))
        regions = [span for y, (a, b) in rows if (span := _span(y, a, b, width))]
        if regions:
            self.refresh(*regions)

    def _rows_now(self) -> list[str] | None:
        """Rows of the shown text as drawn at the label's width; None before layout."""
        width, height = self.size
        if not width or not height:
            return None
        if self._rows is None or self._rows[0] != width:
            strips = Visual.to_strips(self, self._content, width, None, self.visual_style)
            self._rows = (width, [strip.text for strip in strips])
        return self._rows[1]

    def _may_resize(self, old: str, before: list[str], after: list[str]) -> bool:
        if len(after) != len(before) or len(before) != self.size.height:
            return True
        # A label as wide as its text (the default ``width: auto``) changes width with
        # the text's length.
        width = self.styles.width
        return (width is None or width.is_auto) and cell_len(old) != cell_len(self._text)

    @property
    def text(self) -> str:
        """The text shown ("" before the first :meth:`set_text`)."""
        return self._text


def _span(y: int, before: str, after: str, width: int) -> Region | None:
    """Cells of row ``y`` from the first to the last that differ; None if none do."""
    if before == after:
        return None
    if len(before) != len(after) or cell_len(before) != cell_len(after):
        # Shifted (another length, a wide character): the whole row.
        return Region(0, y, width, 1)
    start = 0
    while before[start] == after[start]:
        start += 1
    end = len(after)
    while end > start and before[end - 1] == after[end - 1]:
        end -= 1
    x = cell_len(after[:start])
    return Region(x, y, cell_len(after[start:end]), 1)
