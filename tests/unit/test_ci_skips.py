"""The suite's own hooks (tests/conftest.py): a skip fails under CI=true; the run ends with
how many tests ran per folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("prometheus not found")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_to_fail():
    assert False
"""


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    for folder in ("alpha", "beta"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
        (tmp_path / "tests" / folder / f"test_{folder}.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-rfs"),
            *("--rootdir", str(tmp_path), str(tmp_path / "tests")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skip_is_a_failure_under_ci(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    assert "FAILED " in done.stdout and "tests/alpha/test_alpha.py::test_skips" in done.stdout
    assert "skipped under CI=true, which counts as a failure" in done.stdout
    assert "prometheus not found" in done.stdout
    assert "2 failed, 2 passed, 2 xfailed" in done.stdout


def test_elsewhere_a_skip_is_a_skip_and_the_run_counts_each_folder(tmp_path: Path) -> None:
    done = _pytest(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "2 passed, 2 skipped, 2 xfailed" in done.stdout
    summary = done.stdout.split("tests per folder", 1)[1].splitlines()
    for folder in ("alpha", "beta"):
        assert f"tests/{folder}: 1 ran — 1 passed, 1 skipped, 1 xfailed" in summary
