"""Numbers at the edges and paths that cannot be read or written: one line, exit 2.

Each case runs the real ``b2tui`` as a subprocess and checks exactly one stderr line,
exit status 2, no traceback, no "internal error", and that the line names the input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def b2tui(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp),
        "XDG_STATE_HOME": str(tmp / "xdg"),  # never the user's own state file
    }
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
        env=env,
    )


def assert_one_line(res: subprocess.CompletedProcess[str], *names: str) -> str:
    lines = res.stderr.splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert "Traceback" not in res.stderr and "internal error" not in line, line
    for name in names:
        assert name in line, (name, line)
    return line


SPEEDS = ["1e308", "1e15", "1e-300", "0.001", "10001", "nan", "inf", "-inf", "-1", "0", "fast"]


@pytest.mark.parametrize("speed", SPEEDS)
def test_speed_out_of_range(tmp_path: Path, speed: str) -> None:
    res = b2tui(tmp_path, "demo", "--headless", f"--speed={speed}", "--state", "s.db")
    line = assert_one_line(res, "--speed", speed, "0.01", "10000", "max")
    assert line.startswith("b2tui: ")
    assert not (tmp_path / "s.db").exists()  # refused before any run was recorded


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["history", "--limit", "99999999999999999999999"], "--limit"),
        (["history", "--limit", "0"], "--limit"),
        (["history", "--limit", "-1"], "--limit"),
        (["history", "--limit", "ten"], "--limit"),
        (["demo", "--headless", "--seed", "9" * 40], "--seed"),
        (["demo", "--headless", "--seed", "-5"], "--seed"),
        (["demo", "--headless", "--seed", "1.5"], "--seed"),
    ],
)
def test_whole_numbers_out_of_range(tmp_path: Path, args: list[str], flag: str) -> None:
    assert_one_line(b2tui(tmp_path, *args), flag, "whole number")


def test_numbers_inside_the_ranges_are_accepted(tmp_path: Path) -> None:
    res = b2tui(tmp_path, "history", "--limit", "1000000", "--state", "h.db")
    assert res.returncode == 0, res.stderr
    res = b2tui(
        tmp_path,
        "demo",
        "--headless",
        "--speed",
        "10000",
        "--seed",
        str(2**32 - 1),
        "--state",
        "d.db",
    )
    assert res.returncode == 0, res.stderr


def test_init_into_places_that_cannot_be_written(tmp_path: Path) -> None:
    assert_one_line(b2tui(tmp_path, "init", "/proc/x.toml"), "/proc/x.toml", "cannot write")
    missing = tmp_path / "no" / "such" / "b2tui.toml"
    line = assert_one_line(b2tui(tmp_path, "init", str(missing)), str(missing))
    assert f"directory {missing.parent} does not exist" in line
    assert not missing.parent.exists()
    assert_one_line(b2tui(tmp_path, "init", str(tmp_path), "--force"), "is a directory")
    assert_one_line(b2tui(tmp_path, "init", ""), "empty")


def test_empty_state_is_an_error_not_the_default_file(tmp_path: Path) -> None:
    for args in (["history"], ["demo", "--headless"]):
        assert_one_line(b2tui(tmp_path, *args, "--state", ""), "--state is empty")
    assert not (tmp_path / "xdg").exists()  # the default file was not created either


def test_state_that_is_a_directory_or_unwritable(tmp_path: Path) -> None:
    assert_one_line(b2tui(tmp_path, "history", "--state", str(tmp_path)), str(tmp_path))
    assert_one_line(b2tui(tmp_path, "demo", "--headless", "--state", "/proc/x.db"), "/proc/x.db")
    under_a_file = tmp_path / "plain-file"
    under_a_file.write_text("x")
    target = under_a_file / "s.db"
    assert_one_line(b2tui(tmp_path, "history", "--state", str(target)), str(target))


def test_config_missing_unreadable_a_directory_or_empty(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    for command in ("gates", "status", "run"):
        assert_one_line(b2tui(tmp_path, command, "--config", str(missing)), str(missing), "init")
        assert_one_line(b2tui(tmp_path, command, "--config", str(tmp_path)), "is a directory")
        assert_one_line(b2tui(tmp_path, command, "--config", ""), "--config is empty")
    # /proc/self/mem exists but cannot be read from offset 0, even by root.
    assert_one_line(
        b2tui(tmp_path, "check-config", "/proc/self/mem"), "/proc/self/mem", "cannot read"
    )
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(b'[service]\nname = "caf\xe9"\n')
    assert_one_line(b2tui(tmp_path, "check-config", str(not_utf8)), str(not_utf8), "UTF-8")
    assert_one_line(b2tui(tmp_path, "check-config", ""), "empty")


def test_a_canary_header_the_router_cannot_route_is_refused_by_check_config(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        '[environments.production]\nservice = "web"\ntraffic = "replicas"\n'
        'canary_header = "X-Canary"\n'
    )
    line = assert_one_line(b2tui(tmp_path, "check-config", str(cfg)), f"{cfg}:4", "canary_header")
    assert 'traffic = "nginx" or "gateway"' in line and "preview_service" in line
