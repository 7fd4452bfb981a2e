"""A one-line sparkline from 0 to the larger of its values and the limit; the limit marked."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from b2tui.ui.render_gates import spark_cells


class GateSpark(Widget):
    """Recent values of one gate against its limit.

    Textual's ``Sparkline`` scales to its own min/max, so a steady 0.01 % draws as a
    full bar and a failing 4.39 % can sit at the low end. Here the scale starts at 0
    and reaches the limit at least (see :func:`~b2tui.ui.render_gates.spark_cells`): the
    first cell is the limit's height (``gate-spark--limit``), then an axis, then the
    samples; samples that broke the limit are drawn in the ``gate-spark--over`` style.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "gate-spark--ok",
        "gate-spark--over",
        "gate-spark--limit",
    }

    DEFAULT_CSS = """
    GateSpark { height: 1; }
    GateSpark > .gate-spark--ok { color: $success; }
    GateSpark > .gate-spark--over { color: $error; text-style: bold; }
    GateSpark > .gate-spark--limit { color: $warning; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._history: tuple[float | None, ...] = ()
        self._threshold = 0.0
        self._minimum = False
        self._styles: dict[str, Style] | None = None
        """The three component styles, kept until Textual restyles this widget: Textual's
        own cache of them is cleared by every ``refresh()``, i.e. with every sample, and
        computing them was most of a redraw of the line."""

    def show(self, history: tuple[float | None, ...], threshold: float, *, minimum: bool) -> None:
        """Draw ``history`` (oldest first, None for no data); repaints only on change."""
        state = (history, threshold, minimum)
        if state == (self._history, self._threshold, self._minimum):
            return
        self._history, self._threshold, self._minimum = state
        self.refresh()

    def notify_style_update(self) -> None:
        # Called whenever Textual restyles this widget (its classes, an ancestor's, the
        # theme): the component styles are computed again on the next render.
        self._styles = None
        super().notify_style_update()

    def render(self) -> RenderResult:
        width = self.content_region.width or self.size.width
        cells = spark_cells(self._history, self._threshold, width, minimum=self._minimum)
        styles = self._styles
        if styles is None:
            styles = self._styles = {
                "ok": self.get_component_rich_style("gate-spark--ok"),
                "over": self.get_component_rich_style("gate-spark--over"),
                "limit": self.get_component_rich_style("gate-spark--limit"),
            }
        text = Text(no_wrap=True, overflow="crop")
        for glyph, kind in cells:
            text.append(glyph, styles[kind])
        return text
