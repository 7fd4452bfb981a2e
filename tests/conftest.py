"""Fixtures for every test: a clean secret masker, and the real Kubernetes control plane.

``realkube`` starts etcd + kube-apiserver + kube-controller-manager 1.20.2 (built by
``make kube``) once per test session; ``kube_ns`` gives each test its own namespace on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from b2tui.masking import MASKER
from tests.realkube.cluster import RealKube, missing_reason
from tests.support.services import IN_CI


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
        if IN_CI:
            pytest.fail(reason + " (CI=true: a missing service is a failure)", pytrace=False)
        pytest.skip(reason)
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
