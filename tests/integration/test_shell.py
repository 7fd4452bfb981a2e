"""ShellCommands against real bash subprocesses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from b2tui.adapters.shell import ShellCommands
from b2tui.ports import Commands
from tests.support.services import require_binary

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _bash() -> None:
    require_binary("bash", "bash")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """``tmp_path`` with symlinks resolved, as ``pwd`` prints it."""
    return tmp_path.resolve()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for its reaper counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def _wait_for_pids(path: Path, count: int) -> list[int]:
    """Pids the command wrote, once it wrote ``count`` of them (no fixed sleeps)."""
    for _ in range(400):
        if len(pids := _pids(path)) >= count:
            return pids
        await asyncio.sleep(0.025)
    pytest.fail(f"the command never wrote {count} pids to {path}")


# A command that starts a child and a grandchild (sleep 30 each) and records their pids;
# only killing the whole process group stops both.
TREE = (
    "sleep 30 & echo $! >> {pids}; "
    "bash -c 'sleep 30 & echo $! >> {pids}; wait' & "
    "echo started; wait"
)


def test_implements_the_port() -> None:
    assert isinstance(ShellCommands(), Commands)


async def test_streams_merged_output_in_order(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await ShellCommands().run(
        "test",
        "echo one; echo two >&2; printf 'three\\nfour'",
        cwd=str(tmp_path),
        timeout=10,
        on_line=lines.append,
    )
    assert lines == ["one", "two", "three", "four"]
    assert result.exit_code == 0 and result.ok and not result.timed_out
    assert result.tail == "one\ntwo\nthree\nfour"


async def test_exit_code_and_tail_of_last_20_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await ShellCommands().run(
        "build",
        "for i in $(seq 1 30); do echo line $i; done; exit 3",
        cwd=str(tmp_path),
        timeout=10,
        on_line=lines.append,
    )
    assert result.exit_code == 3 and not result.ok
    assert len(lines) == 30
    assert result.tail.splitlines() == [f"line {i}" for i in range(11, 31)]


async def test_cleans_colour_codes_bad_bytes_progress_and_long_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    script = (
        r"printf '\033[1;31mFAILED\033[0m test_x\n';"
        r"printf 'caf\xc3\xa9 \xff\xfe end\n';"
        r"printf '10%%\r50%%\r100%%\n';"
        "head -c 100000 /dev/zero | tr '\\0' x; echo"
    )
    await ShellCommands(max_line=200).run(
        "test", script, cwd=str(tmp_path), timeout=10, on_line=lines.append
    )
    assert lines[0] == "FAILED test_x"
    assert lines[1] == "café \ufffd\ufffd end"
    assert lines[2] == "100%"
    assert lines[3] == "x" * 199 + "…"
    assert len(lines) == 4


async def test_cwd_is_honoured_and_environment_inherited(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B2TUI_TEST_MARKER", "inherited-value")
    lines: list[str] = []
    result = await ShellCommands(env={"EXTRA": "added"}).run(
        "pull",
        'pwd; echo "$B2TUI_TEST_MARKER $EXTRA"',
        cwd=str(workdir),
        timeout=10,
        on_line=lines.append,
    )
    assert result.ok
    assert lines == [str(workdir), "inherited-value added"]


async def test_missing_cwd_is_a_result_not_an_exception(tmp_path: Path) -> None:
    lines: list[str] = []
    missing = tmp_path / "nope"
    result = await ShellCommands().run(
        "test", "echo hi", cwd=str(missing), timeout=10, on_line=lines.append
    )
    assert result.exit_code == 127 and not result.ok
    assert str(missing) in result.tail and "does not exist" in result.tail
    assert lines == []


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    lines: list[str] = []
    result = await ShellCommands().run(
        "smoke", TREE.format(pids=pids), cwd=str(tmp_path), timeout=1, on_line=lines.append
    )
    assert result.timed_out and result.exit_code is None and not result.ok
    assert "timed out after 1 s" in result.tail
    assert lines[0] == "started"
    child, grandchild = [int(p) for p in pids.read_text().split()]
    # The adapter returns only once the group is gone; no waiting needed here.
    assert not _alive(child)
    assert not _alive(grandchild)


async def test_term_ignoring_process_is_killed_after_grace(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = await ShellCommands(kill_grace=0.3).run(
        "test",
        f"trap '' TERM; sleep 30 & echo $! >> {pids}; wait",
        cwd=str(tmp_path),
        timeout=0.5,
        on_line=lambda _: None,
    )
    assert result.timed_out
    # sleep inherits the ignored SIGTERM, so only the SIGKILL stops it.
    assert not _alive(int(pids.read_text()))


async def test_cancellation_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(
        ShellCommands().run(
            "test", TREE.format(pids=pids), cwd=str(tmp_path), timeout=60, on_line=lambda _: None
        )
    )
    child, grandchild = await _wait_for_pids(pids, 2)
    assert _alive(child) and _alive(grandchild)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(child)
    assert not _alive(grandchild)


async def test_background_leftovers_do_not_outlive_the_command(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = await ShellCommands().run(
        "build",
        f"sleep 30 & echo $! >> {pids}; echo done",
        cwd=str(tmp_path),
        timeout=20,
        on_line=lambda _: None,
    )
    assert result.exit_code == 0 and not result.timed_out
    assert result.tail == "done"
    assert not _alive(int(pids.read_text()))


async def test_a_failing_sink_stops_the_command_and_raises(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    def sink(line: str) -> None:
        if line == "boom":
            raise RuntimeError("log panel gone")

    with pytest.raises(RuntimeError, match="log panel gone"):
        await ShellCommands().run(
            "test",
            f"sleep 30 & echo $! >> {pids}; echo boom; wait",
            cwd=str(tmp_path),
            timeout=20,
            on_line=sink,
        )
    assert not _alive(int(pids.read_text()))
