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
            old, self._text = self._text, text
            # A countdown ("57s left" → "56s left") keeps its length and its breaks, so it
            # wraps the same and needs no layout pass — which would repaint the panel
            # around it. Anything that may change the label's size relayouts.
            self.update(Content(text), layout=old is None or _shape(old) != _shape(text))

    @property
    def text(self) -> str:
        """The text shown ("" before the first :meth:`set_text`)."""
        return self._text or ""


def _shape(text: str) -> tuple[int, tuple[int, ...]]:
    """Length and break positions: equal shapes wrap to the same size at any width."""
    return len(text), tuple(i for i, c in enumerate(text) if c in " \n")
