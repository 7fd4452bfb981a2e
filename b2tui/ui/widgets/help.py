"""The help screen: every key the control room binds right now, with what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen

from b2tui.ui.widgets.quiet_label import QuietLabel


class HelpScreen(ModalScreen[None]):
    """Lists the bindings it is given (a watcher's help shows no dangerous key).

    One row per key: the key in its own column, the description wrapping beside it,
    so nothing is cut at 80 columns.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close help"
        ),
    ]

    def __init__(self, bindings: list[tuple[str, str, str]]) -> None:
        """Args:
        bindings: (key as displayed, description, tooltip) per binding, in order.
        """
        super().__init__()
        self._bindings_text = bindings

    @property
    def text(self) -> str:
        """Everything the screen lists, one line per key (for tests and search)."""
        return "\n".join(f"{k}  {d} — {t}" if t else f"{k}  {d}" for k, d, t in self._bindings_text)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.border_subtitle = "esc to close"
            for key, desc, tip in self._bindings_text:
                with Horizontal(classes="help-line"):
                    yield QuietLabel(key, classes="help-key")
                    yield QuietLabel(f"{desc} — {tip}" if tip else desc, classes="help-text")
