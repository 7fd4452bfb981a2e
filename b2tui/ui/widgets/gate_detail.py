"""One gate's verdict explained: value, limit, comparison, reason and its last values."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from b2tui.domain.events import GateSampled
from b2tui.ui.render import gate_detail_lines
from b2tui.ui.widgets.quiet_label import QuietLabel


class GateDetailScreen(ModalScreen[None]):
    """Opened by ``enter`` on the Gates panel; ``esc`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="gate.close", tooltip="Close"),
    ]

    def __init__(self, sample: GateSampled, history: tuple[float | None, ...]) -> None:
        super().__init__()
        self._lines = gate_detail_lines(sample, history)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="gate-detail-body") as body:
            body.border_title = "Gate"
            body.border_subtitle = "esc to close"
            yield QuietLabel("\n".join(self._lines), id="gate-detail-text")
