"""Partial screen updates that start where the change starts, not at the widget's edge.

Textual writes a partial update per screen line as "chops", one per widget on that line.
For a chop that a changed span only partly covers, it crops the chop's right end to the
span but not its left: ten pods' ages changing from "4s" to "6s" in the table's last
column resent the ten rows from their first cell (~280 bytes each instead of ~40), and
any label's changed cells the whole label to their left. Over SSH on a jump host those
are the bytes an idle control room sends.

:func:`install` makes ``ChopsUpdate.render_segments`` crop the left end too, and both
ends at character boundaries: a double-width character is never cut in half (Textual
would write a space for the half, and the terminal would blank the other half with it).
Everything else is Textual's own code path; if a Textual release changes the class's
shape, :func:`install` leaves it alone and the control room only sends more bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len, get_character_cell_size
from rich.console import Console
from rich.control import Control
from textual.strip import Strip

_INSTALLED = "_b2tui_left_crop"


def char_boundary(strip: Strip, cells: int, *, up: bool = False) -> int:
    """The cell offset nearest ``cells`` where a character of ``strip`` starts.

    At or before ``cells``, or with ``up`` at or after it (the strip's length at most).
    """
    pos = 0
    for segment in strip:
        if segment.control:
            continue
        width = cell_len(segment.text)
        if pos + width <= cells:
            pos += width
            if pos == cells:
                return pos
            continue
        for char in segment.text:
            size = get_character_cell_size(char)
            if pos + size > cells:
                return pos + size if up and pos < cells else pos
            pos += size
        return pos
    return pos


def render_segments(
    chops: Sequence[Mapping[int, Strip | None]],
    spans: Sequence[tuple[int, int, int]],
    chop_ends: Sequence[Sequence[int]],
    console: Console,
) -> str:
    """Terminal output for ``spans`` (y, x1, x2) of the ``chops`` (x → strip per line)."""
    out: list[str] = []
    move_to = Control.move_to
    last_y = spans[-1][0]
    for y, x1, x2 in spans:
        for end, (x, strip) in zip(chop_ends[y], chops[y].items(), strict=False):
            if strip is None or x > x2 or end <= x1:
                continue
            if x < x1:
                skip = char_boundary(strip, x1 - x)
                strip, x = strip.crop(skip), x + skip
            if end > x2:
                strip = strip.crop(0, char_boundary(strip, x2 - x, up=True))
            out.append(move_to(x, y).segment.text)
            out.append(strip.render(console))
        if y != last_y:
            out.append("\n")
    return "".join(out)


def install() -> bool:
    """Patch Textual's partial update to crop both ends; True if it is (now) patched."""
    try:
        from textual._compositor import ChopsUpdate
    except ImportError:
        return False
    if getattr(ChopsUpdate, _INSTALLED, False):
        return True
    original = getattr(ChopsUpdate, "render_segments", None)
    if original is None:
        return False

    def patched(self: ChopsUpdate, console: Console) -> str:
        try:
            chops, spans, chop_ends = self.chops, self.spans, self.chop_ends
        except AttributeError:
            return original(self, console)
        return render_segments(chops, spans, chop_ends, console)

    ChopsUpdate.render_segments = patched  # type: ignore[method-assign]
    setattr(ChopsUpdate, _INSTALLED, True)
    return True
