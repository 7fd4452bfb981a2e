"""A one-line sparkline on a fixed scale: 0 → 2× the gate's limit, the limit at half height."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from b2tui.ui.render import spark_cells


class GateSpark(Widget):
    """Recent values of one gate against its limit.

    Textual's ``Sparkline`` scales to its own min/max, so a steady 0.01 % draws as a
    full bar and a failing 4.39 % can sit at the low end. Here the scale is fixed by the
    limit (see :func:`~b2tui.ui.render.spark_cells`): bars over half height broke the
    limit and are drawn in the ``gate-spark--over`` style.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"gate-spark--ok", "gate-spark--over"}

    DEFAULT_CSS = """
    GateSpark { height: 1; }
    GateSpark > .gate-spark--ok { color: $success; }
    GateSpark > .gate-spark--over { color: $error; text-style: bold; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._history: tuple[float | None, ...] = ()
        self._threshold = 0.0
        self._minimum = False

    def show(self, history: tuple[float | None, ...], threshold: float, *, minimum: bool) -> None:
        """Draw ``history`` (oldest first, None for no data); repaints only on change."""
        state = (history, threshold, minimum)
        if state == (self._history, self._threshold, self._minimum):
            return
        self._history, self._threshold, self._minimum = state
        self.refresh()

    def render(self) -> RenderResult:
        width = self.content_region.width or self.size.width
        cells = spark_cells(self._history, self._threshold, width, minimum=self._minimum)
        ok = self.get_component_rich_style("gate-spark--ok")
        over = self.get_component_rich_style("gate-spark--over")
        text = Text(no_wrap=True, overflow="crop")
        for bar, broken in cells:
            text.append(bar, over if broken else ok)
        return text
