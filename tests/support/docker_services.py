"""A real Docker Engine and real registries on loopback, started by the tests.

``dockerd`` runs as root with everything that would touch the host switched off
(no iptables, no bridge, vfs storage, its own data/exec roots and socket under a short
directory in /tmp), so it coexists with any system daemon. ``docker-registry``
(distribution) listens on ``127.0.0.1:<free port>``; Docker treats ``127.0.0.0/8`` as
an insecure registry, so pushes go over plain HTTP without TLS setup.

Use the fixtures from a test module with ``from tests.support.docker_services import
dockerd, registry, fresh_registry`` (pytest discovers imported fixtures).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.services import free_port, require_binary, require_root

STARTUP_TIMEOUT = 30.0
"""Seconds a server may take to answer; far above the ~1 s dockerd needs here."""

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
"""Accept header for a manifest HEAD: without it distribution answers with a schema-1
conversion whose digest differs from the one the daemon pushed."""


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # Own session: teardown signals the whole group (dockerd's containerd too).
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    # Stragglers of the group (containerd-shim) after the leader exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log: Path
) -> None:
    """Poll ``ready``; if the process dies or time runs out, stop it and fail with its log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.05)
    code = proc.poll()
    _stop(proc)
    state = f"exited with code {code}" if code is not None else f"not ready in {STARTUP_TIMEOUT}s"
    pytest.fail(f"{what} {state}; log tail:\n{_log_tail(log)}", pytrace=False)


# --- dockerd ------------------------------------------------------------------------------


@dataclass
class DockerEngine:
    """A running dockerd of the test session."""

    url: str
    """``unix:///tmp/b2d…/docker.sock``."""
    root: Path
    log: Path

    def client(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.url)


def dockerd_argv(dockerd: str, root: Path, data_root: Path | None = None) -> list[str]:
    """The dockerd command line the tests (and CI) use; every path under ``root``, the
    images under ``data_root`` when given (a cache that outlives the session)."""
    return [
        dockerd,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--storage-driver=vfs",
        f"--data-root={data_root or root / 'data'}",
        f"--exec-root={root}/exec",
        f"--pidfile={root}/docker.pid",
        f"--host=unix://{root}/docker.sock",
    ]


@contextlib.contextmanager
def running_dockerd(data_root: Path | None = None) -> Iterator[DockerEngine]:
    """A private Docker Engine while the block runs (needs root, as in CI).

    Args:
        data_root: where images and containers go; None: a temporary directory removed
            at the end. A given one is kept (and must not be shared by two daemons).
    """
    binary = require_binary("dockerd", "docker.io")
    require_root("dockerd")
    # Short: a unix socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="b2d", dir="/tmp"))
    log = root / "dockerd.log"
    proc = _start(dockerd_argv(binary, root, data_root), log)
    engine = DockerEngine(url=f"unix://{root}/docker.sock", root=root, log=log)

    def ready() -> bool:
        with engine.client() as c:
            return bool(c.ping())

    _wait_ready(proc, ready, "dockerd", log)
    try:
        yield engine
    finally:
        _stop(proc)
        # vfs layers are root-owned copies; best effort is enough in a temp dir.
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[DockerEngine]:
    """A private Docker Engine for the session, its images thrown away at the end."""
    with running_dockerd() as engine:
        yield engine


# --- registry -----------------------------------------------------------------------------


@dataclass
class Registry:
    """A running docker-registry (distribution) on loopback."""

    host: str
    """``127.0.0.1:<port>``: the registry part of image references."""
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        _stop(self.proc)


TEST_USER = "b2test"
TEST_PASSWORD = "b2-test-only"
"""Credentials of the registry started with ``auth=True`` (a throwaway test value)."""
_TEST_HTPASSWD = "b2test:$2b$04$jPTZjgdq1Dclytl44AXt0u9hR5s/Q0Dv.OnRbV9lIUluSzoif9h1W\n"
"""bcrypt of TEST_PASSWORD, precomputed: no bcrypt library needed to run the tests."""


def start_registry(root: Path, *, auth: bool = False) -> Registry:
    """Start docker-registry with storage under ``root``; wait until ``/v2/`` answers.

    Args:
        root: Directory for config, storage and log.
        auth: Require HTTP basic auth (``TEST_USER``/``TEST_PASSWORD``).
    """
    binary = require_binary("docker-registry", "docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}/data",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if auth:
        (root / "htpasswd").write_text(_TEST_HTPASSWD)
        lines += ["auth:", "  htpasswd:", "    realm: b2test", f"    path: {root}/htpasswd"]
    config = root / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = root / "registry.log"
    proc = _start([binary, "serve", str(config)], log)
    reg = Registry(host=f"127.0.0.1:{port}", proc=proc, log=log)
    expected = 401 if auth else 200
    _wait_ready(
        proc,
        lambda: httpx.get(f"{reg.url}/v2/", timeout=1).status_code == expected,
        f"docker-registry on {reg.host}",
        log,
    )
    return reg


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry shared by the session."""
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test only: stop it, break it, without touching the others."""
    reg = start_registry(tmp_path / "registry")
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test only that requires ``TEST_USER``/``TEST_PASSWORD``."""
    reg = start_registry(tmp_path / "auth-registry", auth=True)
    try:
        yield reg
    finally:
        reg.stop()
