"""Fixtures of the real-cluster tests (``realkube`` and ``kube_ns`` are in tests/conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2tui.ports import Target
from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, production
from tests.support.services import wait_until

HTTPROUTE_CRD = Path(__file__).parent / "manifests" / "httproute-crd.yaml"


@pytest.fixture(scope="session")
def httproute_crd(realkube: RealKube) -> None:
    """Gateway API's HTTPRoute CRD, installed once and Established."""
    realkube.apply_yaml(HTTPROUTE_CRD.read_text())

    def established() -> bool:
        crd = realkube.get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "httproutes.gateway.networking.k8s.io",
        )
        conds = (crd or {}).get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conds)

    wait_until(established, 30, "the HTTPRoute CRD to be Established")
    realkube.resource("gateway.networking.k8s.io/v1", "HTTPRoute")  # in discovery now


@pytest.fixture
def prod(realkube: RealKube, kube_ns: str) -> Target:
    """Production seeded from ``production.yaml`` in the test's namespace."""
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=kube_ns)
    return production(kube_ns)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed and reaped after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(10)
