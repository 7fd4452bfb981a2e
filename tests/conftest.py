"""Fixtures for every test: a clean secret masker, and the real Kubernetes control plane;
and two hooks for the whole run.

``realkube`` starts etcd + kube-apiserver + kube-controller-manager 1.20.2 (built by
``make kube``) once per test session; ``kube_ns`` gives each test its own namespace on it.

Under ``CI=true`` every skipped test is reported as failed (CI installs every service
and runs as root: a skip there means a test that guards something did not run). Every
run ends with how many tests ran, passed, failed and skipped in each folder of tests/.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2tui.masking import MASKER
from tests.realkube.cluster import RealKube, missing_reason
from tests.support.services import IN_CI, unavailable

TESTS = Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under ``CI=true`` a skip (not an expected failure) is a failure, saying why."""
    report: pytest.TestReport = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under CI=true, which counts as a failure (CI installs every service"
            f" and runs as root, so every test must run): {why}"
        )
    return report  # type: ignore[return-value]


_RAN: dict[str, Counter[str]] = defaultdict(Counter)


def _folder(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test once: its call, or the setup that failed or skipped it."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _RAN[_folder(report.nodeid)][outcome] += 1
    elif report.when == "teardown" and report.failed:
        _RAN[_folder(report.nodeid)]["teardown errors"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tests ran in each folder (``tests/unit: 312 ran — 312 passed``)."""
    if not _RAN:
        return
    terminalreporter.section("tests per folder")
    for folder in sorted(_RAN):
        counts = _RAN[folder]
        ran = counts["passed"] + counts["failed"]
        detail = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n)
        terminalreporter.write_line(f"{folder}: {ran} ran — {detail}")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with no registered secret: one test's token must not mask another's text."""
    yield
    MASKER.clear()


@pytest.fixture(scope="session")
def realkube() -> Iterator[RealKube]:
    """The session's real control plane; skips (fails under CI=true) when not built."""
    reason = missing_reason()
    if reason is not None:
        unavailable(reason)
    kube = RealKube().start()  # its own temp dir, removed by stop()
    try:
        yield kube
    finally:
        kube.stop()


@pytest.fixture
def kube_ns(realkube: RealKube, request: pytest.FixtureRequest) -> str:
    """A fresh namespace on the real control plane, named after the test."""
    name = request.node.name.removeprefix("test_").split("[")[0].replace("_", "-")
    return realkube.namespace(name[:30])
