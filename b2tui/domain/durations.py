"""Duration parsing and formatting ("30s", "5m", "1h30m")."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration string such as ``"30s"``, ``"5m"`` or ``"1h30m"``.

    Raises:
        ValueError: when the text is not a duration; the message says what is expected.
    """
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration; expected e.g. '30s', '5m', '1h30m'")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration; expected e.g. '30s', '5m', '1h30m'")
    return total


def format_duration(seconds: float) -> str:
    """Compact human text: ``"4m05s"``, ``"1h02m"``, ``"12s"``, ``"0s"``."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"
