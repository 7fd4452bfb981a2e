"""Finding and starting real services for integration tests.

On a developer machine a missing binary (or root, for dockerd, mount and chattr) skips
the test with one line saying what to install or how to run it; under ``CI=true`` it is
a failure, because CI installs everything and runs as root. ``tests/conftest.py`` also
turns any other skip into a failure under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(msg: str) -> NoReturn:
    """Skip the test saying ``msg``; under ``CI=true`` fail it instead."""
    if IN_CI:
        pytest.fail(msg + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(msg)


def require_root(what: str) -> None:
    """Skip (fail in CI) unless running as root, which ``what`` needs."""
    if os.geteuid() != 0:
        unavailable(f"{what} needs root: run these tests as root (CI does)")


def require_binary(name: str, package: str, *candidates: str, install: str = "") -> str:
    """Path of ``name`` (or one of ``candidates``); skip, or fail in CI, when absent.

    Args:
        package: The Debian package that has it (the hint is ``apt-get install``).
        install: Another way to install it, said instead (a script of the repo).
    """
    for c in (name, *candidates):
        path = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if path:
            return path
    unavailable(f"{name} not found: install it with `{install or f'apt-get install {package}'}`")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05
) -> None:
    """Poll ``predicate`` until true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(step)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
