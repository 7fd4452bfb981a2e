"""A label that repaints only when its text changes."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Label


class QuietLabel(Label):
    """A :class:`Label` whose :meth:`set_text` ignores equal text.

    ``Static.update`` always repaints (and may relayout); the control room calls its
    setters on every event and every clock tick, and an idle screen must send nothing
    over a slow SSH link. Text is plain: run data (pod names, error messages) is never
    parsed as markup.
    """

    def __init__(
        self, text: str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(Content(text), id=id, classes=classes)
        self._text: str | None = text

    def set_text(self, text: str) -> None:
        """Show ``text`` (plain) unless it is already shown."""
        if text != self._text:
            self._text = text
            self.update(Content(text))

    @property
    def text(self) -> str:
        """The text shown ("" before the first :meth:`set_text`)."""
        return self._text or ""
