"""The bytes that call the on-call: the terminal bell and desktop notifications (pure).

A :class:`~b2tui.domain.attention.Call` becomes, in this order:

- ``BEL`` (``\\a``) — the bell; tmux marks the window (``window_bell_flag``) and runs
  its ``alert-bell`` hook, terminals beep or flash;
- ``OSC 9 ; title: body BEL`` — the notification form of iTerm2, WezTerm, kitty,
  Windows Terminal and ConEmu;
- ``OSC 777 ; notify ; title ; body BEL`` — the form of foot, urxvt, WezTerm, kitty and
  the VTE terminals that carry the patch.

Inside tmux (``$TMUX`` set) each OSC is wrapped for passthrough —
``ESC P tmux; <the OSC with every ESC doubled> ESC \\`` — which tmux ≥ 3.3 forwards to
the outer terminal when the pane allows it (``set -g allow-passthrough on``); the bell is
not wrapped, tmux handles it itself.

What the environment changes: ``TERM=dumb`` (or no ``TERM``) sends the bell only — a
terminal that understands no escape sequence would print the OSC as text; ``NO_COLOR``
changes nothing here, it is about colour and a bell or a notification is not colour.
``[terminal] bell = false`` / ``notify = false`` switch each off.

Text is masked (:func:`b2tui.masking.mask`) and stripped of control characters (an ESC or
BEL inside a reason would end the sequence early, or start another); ``;`` in the title
becomes ``,`` (it separates OSC 777's fields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from b2tui.domain.attention import Call
from b2tui.masking import mask

BEL = "\a"
ESC = "\x1b"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
MAX_BODY = 200
"""Characters of a notification's body (desktop notifications show about two lines)."""


@dataclass(frozen=True)
class TerminalPrefs:
    """How this terminal is called."""

    bell: bool = True
    notify: bool = True
    """Send OSC 9 and OSC 777 desktop notifications."""
    escapes: bool = True
    """False on ``TERM=dumb``: no OSC at all."""
    tmux: bool = False
    """Inside tmux: wrap each OSC for passthrough."""

    @classmethod
    def of(cls, *, bell: bool, notify: bool, environ: Mapping[str, str]) -> TerminalPrefs:
        """The preferences for the ``[terminal]`` settings in ``environ`` (``TERM``,
        ``TMUX``)."""
        term = environ.get("TERM", "")
        return cls(
            bell=bell,
            notify=notify,
            escapes=term not in ("", "dumb"),
            tmux=bool(environ.get("TMUX")),
        )


def clean(text: str, limit: int = MAX_BODY) -> str:
    """``text`` masked, on one line, without control characters, at most ``limit``."""
    flat = " ".join(_CONTROL.sub(" ", mask(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def passthrough(seq: str) -> str:
    """``seq`` wrapped for tmux's passthrough (every ESC inside doubled)."""
    return f"{ESC}Ptmux;" + seq.replace(ESC, ESC + ESC) + f"{ESC}\\"


def sequences(call: Call, prefs: TerminalPrefs) -> str:
    """What to write to the terminal for ``call`` ("" when nothing is on)."""
    out = BEL if prefs.bell else ""
    if not (prefs.notify and prefs.escapes):
        return out
    title = clean(call.title, 60).replace(";", ",")
    body = clean(call.body)
    oscs = [f"{ESC}]9;{title}: {body}{BEL}", f"{ESC}]777;notify;{title};{body}{BEL}"]
    for osc in oscs:
        out += passthrough(osc) if prefs.tmux else osc
    return out
