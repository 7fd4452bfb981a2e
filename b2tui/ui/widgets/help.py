"""The help screen: every key the control room binds right now, with what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from b2tui.ui.widgets.quiet_label import QuietLabel


class HelpScreen(ModalScreen[None]):
    """Lists the bindings it is given (a watcher's help shows no dangerous key)."""

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

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _, _ in self._bindings_text), default=4)
        lines = [
            f"{key:>{width}}  {desc} — {tip}" if tip else f"{key:>{width}}  {desc}"
            for key, desc, tip in self._bindings_text
        ]
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.border_subtitle = "esc to close"
            yield QuietLabel("\n".join(lines), id="help-text")
