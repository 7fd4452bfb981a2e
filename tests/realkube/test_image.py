"""The ``Dockerfile``'s image, built and run with the suite's dockerd (README, "On a real
cluster", way 2).

Docker Hub is out of reach here, so the build's ``BASE`` is a local image: Debian
bookworm's python3 from ``tests/realkube/base-image.sh`` (debootstrap; the tarball is
cached in the XDG cache), ``docker import``-ed as ``b2tui-base/python:3.11-slim``. The
daemon keeps its images in the XDG cache too (``image-docker/``): ``b2tui:<version>``
carries a hash of everything the build reads as a label, and an image whose hash still
matches is not built again (the first build takes about 2 minutes with BuildKit on vfs,
a second run seconds).

Then the image runs as ``deploy/job.yaml``'s pod would: uid 10001, read-only root with a
``/tmp`` of its own, ``KUBERNETES_SERVICE_HOST``/``PORT`` at the real apiserver, the
``b2tui-job`` ServiceAccount's token and the cluster CA at
``/var/run/secrets/kubernetes.io/serviceaccount``, the Job's ConfigMap at ``/etc/b2tui``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from b2tui import __version__
from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeStore
from tests.realkube.cluster import CACHE, RealKube
from tests.realkube.seed import ROOT, rbac_docs
from tests.realkube.test_kube_store import record
from tests.support.docker_services import DockerEngine, running_dockerd
from tests.support.services import require_binary

pytestmark = pytest.mark.integration

BASE = "b2tui-base/python:3.11-slim"
IMAGE = f"b2tui:{__version__}"
INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "b2tui", "styles")
"""What the build reads (the Dockerfile's COPY lines and .dockerignore's allow list)."""
LABEL = "org.b2tui.inputs"
BASE_LABEL = "org.b2tui.base"
"""The base tarball's file name (its hash included), set by ``docker import``."""
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
BUILD_TIMEOUT = 20 * 60.0
"""Seconds the first build may take: about 2 minutes on vfs, far more on a loaded machine."""


def inputs_hash() -> str:
    """sha256 over the names and contents of the build's inputs."""
    h = hashlib.sha256()
    for name in INPUTS:
        top = ROOT / name
        files = sorted(top.rglob("*")) if top.is_dir() else [top]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


class Docker:
    """The ``docker`` CLI on one daemon."""

    def __init__(self, engine: DockerEngine) -> None:
        # docker.io's own CLI, of the daemon's version: BuildKit is built into it (a
        # newer CLI needs the buildx plugin for that). The classic builder would copy the
        # whole root filesystem for every instruction on vfs: 8 minutes instead of 2.
        self.cli = require_binary("/usr/bin/docker", "docker.io")
        self.env = {**os.environ, "DOCKER_HOST": engine.url, "DOCKER_BUILDKIT": "1"}

    def run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cli, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str, timeout: float = 120.0) -> str:
        """stdout of a command that must succeed (else the test fails with its output)."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
            pytest.fail(f"docker {' '.join(args[:2])} … exited {done.returncode}:\n{tail}")
        return done.stdout

    def label(self, image: str, key: str) -> str | None:
        """Label ``key`` of a local image; None when there is no such image."""
        done = self.run("image", "inspect", "--format", "{{json .Config.Labels}}", image)
        if done.returncode != 0:
            return None
        labels: dict[str, str] = json.loads(done.stdout) or {}
        return labels.get(key, "")


@contextlib.contextmanager
def _exclusive(lock: Path, timeout: float = BUILD_TIMEOUT) -> Iterator[None]:
    """Hold ``lock`` (another test session may be using the same data root)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{lock} still held by another session after {timeout:.0f}s")
                time.sleep(1)
        yield


@pytest.fixture(scope="module")
def docker_cli() -> Iterator[Docker]:
    """The docker CLI on a private daemon whose images live in the XDG cache."""
    data = CACHE / "image-docker"
    with _exclusive(CACHE / "image-docker.lock"), running_dockerd(data_root=data) as engine:
        yield Docker(engine)


def _base(docker: Docker) -> str:
    """``BASE`` from the cached (or now built) debootstrap tarball; returns its name."""
    require_binary("debootstrap", "debootstrap")
    done = subprocess.run(
        [str(ROOT / "tests" / "realkube" / "base-image.sh")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if done.returncode != 0:
        pytest.fail(f"base-image.sh exited {done.returncode}:\n{done.stderr[-4000:]}")
    tarball = done.stdout.strip().splitlines()[-1]
    name = Path(tarball).name
    if docker.label(BASE, BASE_LABEL) == name:
        return name
    docker.ok(
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        'CMD ["python3"]',
        "--change",
        f"LABEL {BASE_LABEL}={name}",
        tarball,
        BASE,
        timeout=600,
    )
    return name


@pytest.fixture(scope="module")
def image(docker_cli: Docker) -> str:
    """``b2tui:<version>`` built from the checkout with ``BASE`` (cached by input hash)."""
    base, want = _base(docker_cli), inputs_hash()
    # The image inherits the base's label: a new base (script changed) builds anew too.
    if docker_cli.label(IMAGE, LABEL) == want and docker_cli.label(IMAGE, BASE_LABEL) == base:
        return IMAGE
    # Proxy settings of this host, if any, reach pip inside the build (predefined ARGs).
    proxies = [
        a
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
        if k in os.environ
        for a in ("--build-arg", k)
    ]
    docker_cli.ok(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE={BASE}",
        *proxies,
        "--label",
        f"{LABEL}={want}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=BUILD_TIMEOUT,
    )
    # The previous build (untagged now) and old build cache: vfs keeps full copies.
    docker_cli.run("image", "prune", "-f")
    docker_cli.run("builder", "prune", "-f", "--keep-storage", "2gb")
    return IMAGE


def test_the_image_prints_its_version_and_runs_as_uid_10001(docker_cli: Docker, image: str) -> None:
    # One container for both (vfs copies the whole image for each); the ENTRYPOINT
    # itself runs in the Job's test below.
    out = docker_cli.ok(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", "id; b2tui --version"
    )
    ident, version = out.strip().splitlines()
    assert ident.split()[:2] == ["uid=10001(b2tui)", "gid=10001(b2tui)"]
    assert version == f"b2tui {__version__}"
    config = json.loads(docker_cli.ok("image", "inspect", "--format", "{{json .Config}}", image))
    assert (config["Entrypoint"], config["Cmd"]) == (["b2tui"], ["run", "--headless", "--json"])


def _shipped_docs(ns: str) -> list[dict[str, Any]]:
    """deploy/rbac.yaml, store-rbac.yaml and job.yaml as applied to namespace ``ns``."""
    return rbac_docs(ns, "store-rbac.yaml", "job.yaml")


def test_the_image_runs_as_the_jobs_pod_with_its_service_account(
    docker_cli: Docker, image: str, realkube: RealKube, kube_ns: str, tmp_path: Path
) -> None:
    docs = _shipped_docs(kube_ns)
    for d in docs:  # the Job too: the 1.20 API accepts its pod spec as shipped
        realkube.apply(d, kube_ns)
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["b2tui.toml"]
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "b2tui.toml").write_text(
        config.replace('namespace = "b2connect"', f'namespace = "{kube_ns}"')
    )
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(realkube.service_account_token(kube_ns, "b2tui-job"))
    (sa / "ca.crt").write_bytes(realkube.ca_file.read_bytes())
    (sa / "namespace").write_text(kube_ns)
    for p in (tmp_path, etc, sa):
        p.chmod(0o755)
    for p in [*etc.iterdir(), *sa.iterdir()]:
        p.chmod(0o644)

    # A run a jump host started (way 1): the pod (way 2) must find it in the cluster.
    host = KubeStore(
        connect(str(realkube.write_kubeconfig(tmp_path / "kc", user="tester")), None), kube_ns
    )
    seeded = replace(record("img1", service="b2connect"), created_by="tester@jump1")
    assert host.claim_run(
        "b2connect", "production", sandbox=False, owner="jump1", ttl=15.0, new=seeded
    ).created
    host.finish_run("img1", "succeeded", "", datetime(2026, 12, 2, 6, 5, tzinfo=UTC))
    host.release_lease("img1")
    host.close()

    mark = realkube.audit_mark()
    port = realkube.url.rsplit(":", 1)[1]
    out = docker_cli.ok(
        "run",
        "--rm",
        "--network",
        "host",
        # deploy/job.yaml's securityContext
        "--user",
        "10001:10001",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        # what the kubelet gives every pod of a ServiceAccount
        "--env",
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        "--env",
        f"KUBERNETES_SERVICE_PORT={port}",
        "--volume",
        f"{sa}:{SA_DIR}:ro",
        "--volume",
        f"{etc}:/etc/b2tui:ro",
        image,
        "history",
        "--config",
        "/etc/b2tui/b2tui.toml",
        "--json",
    )
    runs = json.loads(out)["runs"]
    assert [(r["run_id"], r["outcome"]) for r in runs] == [("img1", "succeeded")]
    user = f"system:serviceaccount:{kube_ns}:b2tui-job"
    asked = realkube.audit(user=user, since=mark)
    assert ("list", "configmaps", 200) in {(r.verb, r.resource, r.code) for r in asked}
