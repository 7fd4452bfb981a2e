"""A driver process on the kube store and a control room attached to it, from another user.

Shared by ``test_kube_store.py`` (the attached control room rolls the run back by key)
and ``benchmarks/suite.py`` (the ``attach`` row times it): RBAC for the two users, the
driver process (``tests.realkube.kube_driver``), waiting for its first canary step, and
the ``AttachedSession`` a control room is made around.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeIntents, KubeStore
from b2tui.config import Settings, StoreSettings, sandbox_settings
from b2tui.engine.remote import AttachedSession
from tests.realkube.cluster import RealKube

ROOT = Path(__file__).resolve().parents[2]

DRIVER_RULES = [
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get", "list", "watch", "create", "patch"],
    },
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update", "patch"],
    },
]
"""What a driver needs of the kube store in its namespace (and an operator who sends intents)."""


def grant(kube: RealKube, ns: str, name: str, rules: list[dict], subject: dict) -> None:
    """A Role ``name`` with ``rules`` in ``ns``, bound to ``subject``."""
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name},
            "rules": rules,
        },
        ns,
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject],
        },
        ns,
    )


def user(name: str) -> dict:
    """An RBAC subject: the static-token user ``name``."""
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def two_kubeconfigs(kube: RealKube, ns: str, workdir: Path) -> tuple[Path, Path]:
    """Kubeconfigs (in ``workdir``) of user ``tester`` and ServiceAccount ``driver2``,
    both with ``DRIVER_RULES`` in ``ns``."""
    grant(kube, ns, "b2tui-driver", DRIVER_RULES, user("tester"))
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "driver2"}}, ns)
    grant(
        kube,
        ns,
        "b2tui-driver2",
        DRIVER_RULES,
        {"kind": "ServiceAccount", "name": "driver2", "namespace": ns},
    )
    token = kube.service_account_token(ns, "driver2")
    a = kube.write_kubeconfig(workdir / "a.kubeconfig", user="tester", namespace=ns)
    b = kube.write_kubeconfig(
        workdir / "b.kubeconfig", token=token, user_name="driver2", namespace=ns
    )
    return a, b


def driver_process(
    kubeconfig: Path,
    ns: str,
    name: str,
    speed: float,
    log: Path,
    staging: str | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """``tests.realkube.kube_driver`` as user ``name`` (``B2TUI_USER``), output to ``log``;
    with ``staging``, on the real Deployments (see the driver's ``--staging``)."""
    env = {**os.environ, "B2TUI_USER": name, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "tests.realkube.kube_driver", str(kubeconfig), ns, str(speed)]
    return subprocess.Popen(
        [*argv, *(("--staging", staging) if staging else ()), *extra],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def run_state(kube: RealKube, ns: str) -> dict:
    """The saved state of the run the kube store in ``ns`` holds ({} before there is one)."""
    runs = kube.list("v1", "ConfigMap", ns, "b2tui.io/kind=run")
    return json.loads(runs[0]["data"]["state"]) if runs else {}


def start_holding_driver(
    kube: RealKube,
    ns: str,
    kubeconfig: Path,
    log: Path,
    procs: list,
    speed: float = 10.0,
    staging: str | None = None,
) -> str:
    """A driver (user ``driver``, on ``kubeconfig``) appended to ``procs`` and holding its
    first canary step; its run id."""
    procs.append(driver_process(kubeconfig, ns, "driver", speed, log, staging))

    def holding() -> bool:
        st = run_state(kube, ns)
        return st.get("phase") == "production" and st.get("canary_percent", 0) > 0

    deadline = time.monotonic() + 300
    while not holding():
        if procs[-1].poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the driver did not reach a canary step (exit {procs[-1].poll()}):\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.1)
    return str(run_state(kube, ns)["run_id"])


def attached(kubeconfig: Path, ns: str, run_id: str) -> AttachedSession:
    """The session ``b2tui attach`` opens on ``run_id`` as ``kubeconfig``'s user."""
    store = KubeStore(connect(str(kubeconfig), None), ns)
    return AttachedSession(store, run_id, KubeIntents(store, "b2connect", "production"))


def store_settings(ns: str) -> Settings:
    """The sandbox settings with the kube store in ``ns``."""
    return dataclasses.replace(
        sandbox_settings(), store=StoreSettings(backend="kube", namespace=ns)
    )


async def until(pilot: Any, predicate: Callable[[], bool], what: str, timeout: float) -> None:
    """Pause the pilot until ``predicate()``; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)
