"""Finding and starting real services for integration tests.

On a developer machine a missing binary skips the test with one line saying what to
install; under ``CI=true`` it is a failure, because CI installs everything.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str, package: str, *candidates: str) -> str:
    """Path of ``name`` (or one of ``candidates``); skip, or fail in CI, when absent."""
    for c in (name, *candidates):
        path = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if path:
            return path
    msg = f"{name} not found: install it with `apt-get install {package}`"
    if IN_CI:
        pytest.fail(msg + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(msg)


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
