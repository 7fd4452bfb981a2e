"""The frame every panel shares: a titled border whose subtitle tells how fresh the data is."""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.reactive import reactive, var

from b2tui.ui.render import age_text, stale_text


class Panel(Vertical):
    """A bordered panel showing the age of its data, or ``stale 42s: <error>``.

    Subclasses set :attr:`data_at` when new data arrives and :attr:`error` when their
    source fails; the app calls :meth:`show_age` from its one-second clock tick.
    """

    # `var`, not `reactive`: a reactive repaints the whole panel on every assignment,
    # and `now` is assigned every second. Only the subtitle text may change, and
    # `_update_subtitle` repaints when (and only when) it does.
    data_at: var[datetime | None] = var(None, init=False)
    """Run-clock time of the newest good data, None before any."""
    error: reactive[str | None] = reactive(None, init=False)
    """The source's last error (one line), None while it works."""
    now: var[datetime | None] = var(None, init=False)
    """The run clock's time as of the last tick; ages are measured against it."""

    _subtitle: str = ""

    def watch_error(self, error: str | None) -> None:
        self.set_class(error is not None, "-stale")
        self._update_subtitle()

    def watch_data_at(self) -> None:
        self._update_subtitle()

    def watch_now(self) -> None:
        self._update_subtitle()

    def show_age(self, now: datetime) -> None:
        """Measure ages against ``now`` (the run clock)."""
        self.now = now

    def _update_subtitle(self) -> None:
        age = None
        if self.now is not None and self.data_at is not None:
            age = (self.now - self.data_at).total_seconds()
        text = stale_text(age, self.error) if self.error is not None else age_text(age)
        # Skip equal text so an idle screen sends nothing over the SSH link. Content
        # keeps error text from being parsed as markup.
        if text != self._subtitle:
            old, self._subtitle = self._subtitle, text
            self._set_subtitle(Content(text), max(cell_len(old), cell_len(text)))

    def _set_subtitle(self, subtitle: Content, cells: int) -> None:
        """Show ``subtitle`` in the bottom border, repainting only where it is drawn.

        Assigning ``border_subtitle`` repaints the whole panel and everything in it (a
        200-row table for "10s ago" → "20s ago"); the subtitle is drawn from the
        attribute the assignment stores into, so set that and repaint the ``cells``
        (the longer of the old and new text) at the right of the bottom row.
        """
        width, height = self.outer_size
        if not self.is_mounted or not height:
            self.border_subtitle = subtitle
            return
        self._border_subtitle = subtitle
        x = 0
        if self.styles.border_subtitle_align == "right":
            # Drawn as "─ text ─╯": a space either side, a rule and the corner.
            x = max(0, width - cells - 4)
        # refresh() takes regions relative to the content, inside border and padding.
        offset = self.content_offset
        self.refresh(Region(x - offset.x, height - 1 - offset.y, width - x, 1))

    def set_title(self, title: Content) -> None:
        """Show ``title`` in the top border, repainting only where it is drawn.

        As :meth:`_set_subtitle`: assigning ``border_title`` repaints the panel and all
        in it ("Pods 200" → "Pods 199" while a track scales down).
        """
        width, height = self.outer_size
        old = self._border_title
        if not self.is_mounted or not height:
            self.border_title = title
            return
        self._border_title = title
        cells = width
        if self.styles.border_title_align == "left":
            # Drawn as "╭─ text ─": the corner, a rule and a space before the text.
            cells = min(width, max(title.cell_length, old.cell_length if old else 0) + 4)
        offset = self.content_offset
        self.refresh(Region(-offset.x, -offset.y, cells, 1))
