"""Command line: ``b2tui demo | run | tui | attach | history | gates | status | rollback``,
``check-config``, ``init``.

Exit status (the contract scripts rely on): 0 succeeded, 3 rolled back, 4 blocked,
5 aborted, 2 bad usage or configuration, 1 a source failed (one-shot commands).
Bad input gets one line on stderr — what, where, how to fix — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from b2tui.cli.parser import UsageError, build_parser
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
        handler = command_handler(command)
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


COMMANDS: dict[str, str] = {
    "demo": "b2tui.cli.demo:cmd_demo",
    "run": "b2tui.cli.run:cmd_run",
    "tui": "b2tui.cli.run:cmd_tui",
    "history": "b2tui.cli.oneshots:cmd_history",
    "attach": "b2tui.cli.follow:cmd_attach",
    "gates": "b2tui.cli.oneshots:cmd_gates",
    "status": "b2tui.cli.oneshots:cmd_status",
    "postmortem": "b2tui.cli.postmortem:cmd_postmortem",
    "replay": "b2tui.cli.replay:cmd_replay",
    "rollback": "b2tui.cli.oneshots:cmd_rollback",
    "abort": "b2tui.cli.abort:cmd_abort",
    "sign": "b2tui.cli.sign:cmd_sign",
    "audit": "b2tui.cli.audit:cmd_audit",
    "rbac": "b2tui.cli.rbac:cmd_rbac",
    "check-config": "b2tui.cli.oneshots:cmd_check_config",
    "init": "b2tui.cli.oneshots:cmd_init",
}
"""Each command's handler as ``module:function``: a command imports its own module only
(``b2tui demo`` does not pay for the one-shot commands' imports before its first frame;
benchmarks/README.md, issue #28)."""


def command_handler(command: str) -> Callable[[argparse.Namespace], int]:
    """The handler of ``command`` (a key of :data:`COMMANDS`), its module imported now."""
    module, _, name = COMMANDS[command].partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return handler
