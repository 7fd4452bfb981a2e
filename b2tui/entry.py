"""The ``b2tui`` console script: ``status --line`` on its fast path, the rest to
:func:`b2tui.cli.main`.

tmux runs ``b2tui status --line`` every ``status-interval`` seconds; importing the whole
command table (Textual, the adapters) would cost more than the answer. This module
imports nothing of b2tui until it knows which path to take.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["status"] and "--line" in args and not {"-h", "--help"} & set(args):
        from b2tui.quickstatus import main as status_line_main

        return status_line_main(args)
    from b2tui.startup import hold_collector

    hold_collector()  # until the first frame or a few seconds (b2tui/startup.py)
    from b2tui.cli import main as cli_main

    return cli_main(args)
