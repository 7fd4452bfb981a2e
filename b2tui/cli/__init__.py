"""Command line: ``b2tui demo | run | tui | attach | history | gates | status | rollback``,
``check-config``, ``init``.

Exit status (the contract scripts rely on): 0 succeeded, 3 rolled back, 4 blocked,
5 aborted, 2 bad usage or configuration, 1 a source failed (one-shot commands).
Bad input gets one line on stderr — what, where, how to fix — never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from b2tui.cli.abort import cmd_abort
from b2tui.cli.audit import cmd_audit
from b2tui.cli.demo import cmd_demo
from b2tui.cli.follow import cmd_attach
from b2tui.cli.oneshots import (
    cmd_check_config,
    cmd_gates,
    cmd_history,
    cmd_init,
    cmd_rollback,
    cmd_status,
)
from b2tui.cli.parser import UsageError, build_parser
from b2tui.cli.postmortem import cmd_postmortem
from b2tui.cli.rbac import cmd_rbac
from b2tui.cli.replay import cmd_replay
from b2tui.cli.run import cmd_run, cmd_tui
from b2tui.cli.sign import cmd_sign
from b2tui.config import ConfigError, find_config
from b2tui.domain.phases import EXIT_USAGE
from b2tui.masking import mask
from b2tui.ports import StoreError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = args.command or ("tui" if find_config() else None)
        if command is None:
            raise UsageError("no command and no ./b2tui.toml: try `b2tui demo` or `b2tui init`")
        handler: Callable[[argparse.Namespace], int] = COMMANDS[command]
        if args.command is None:
            args = build_parser().parse_args(["tui"])
        return handler(args)
    except UsageError as e:
        print(mask(f"b2tui: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except StoreError as e:
        print(mask(f"b2tui: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        for line in e.problems:
            print(mask(line), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("b2tui: interrupted; the run's state is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # the last guard: one line, never a traceback (state is kept)
        if os.environ.get("B2TUI_DEBUG"):
            raise
        print(
            mask(
                f"b2tui: internal error: {type(e).__name__}: {e} (set B2TUI_DEBUG=1 for the"
                " traceback; the run's state is kept)"
            ),
            file=sys.stderr,
        )
        return 1


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "run": cmd_run,
    "tui": cmd_tui,
    "history": cmd_history,
    "attach": cmd_attach,
    "gates": cmd_gates,
    "status": cmd_status,
    "postmortem": cmd_postmortem,
    "replay": cmd_replay,
    "rollback": cmd_rollback,
    "abort": cmd_abort,
    "sign": cmd_sign,
    "audit": cmd_audit,
    "rbac": cmd_rbac,
    "check-config": cmd_check_config,
    "init": cmd_init,
}
