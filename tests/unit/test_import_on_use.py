"""Modules ``b2tui demo`` does not use before its first frame are imported when used
(benchmarks/README.md, issue #28): the command table imports a command's module when
that command runs, and the demo path leaves the write-up, TOML and Mann–Whitney alone.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from b2tui.cli import COMMANDS, command_handler

# What the demo's path imports before its first frame: the CLI, the demo command, and
# the modules its control room and run are built from.
DEMO_PATH = """
import sys
from b2tui.cli import command_handler
command_handler("demo")
import b2tui.cli.postmortem, b2tui.config.loading, b2tui.domain.gates
import b2tui.engine.conductor, b2tui.adapters.sandbox, b2tui.ui.app
print("\\n".join(sorted(sys.modules)))
"""

NOT_BEFORE_THE_FIRST_FRAME = [
    "b2tui.cli.abort",
    "b2tui.cli.audit",
    "b2tui.cli.oneshots",
    "b2tui.cli.rbac",
    "b2tui.cli.replay",
    "b2tui.cli.run",
    "b2tui.cli.sign",
    "b2tui.commands.postmortem",
    "b2tui.domain.mannwhitney",
    "statistics",
    "tomllib",
]


def test_the_demo_path_leaves_other_commands_and_unused_modules_unimported() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", DEMO_PATH], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "b2tui.cli.demo" in loaded
    assert [m for m in NOT_BEFORE_THE_FIRST_FRAME if m in loaded] == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_resolves_to_its_handler(name: str) -> None:
    handler = command_handler(name)
    assert callable(handler)
    assert handler.__name__ == "cmd_" + name.replace("-", "_")
