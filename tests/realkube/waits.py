"""Waiting on a cluster by condition, for the adapter's tests (real server or test server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.ports import Target
from tests.realkube.cluster import RealKube
from tests.support.services import wait_until


async def settle(kube: KubeCluster, env: Target, track: str | None = None) -> None:
    """Wait for the rollout of ``track`` to complete (bounded)."""
    for _ in range(600):
        st = await kube.rollout(env, track)
        assert not st.failed, st.message
        if st.complete:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"rollout of {track or 'stable'} did not complete: {st.message}")


async def live_watch(kube: KubeCluster, env: Target, n: int = 4) -> Any:
    """``env``'s pod watch, once its cache holds ``n`` pods and its stream is open."""
    await settle(kube, env)
    w = await asyncio.to_thread(kube.watch, env)
    wait_until(lambda: w.live and len(w.snapshot()) == n, 20, "the watch cache to fill")
    wait_until(lambda: w.streaming, 20, "the watch stream to open")
    return w


def cache_follows(realkube: RealKube, w: Any, ns: str, n: int) -> bool:
    """True when the watch's cache holds exactly the server's ``n`` pods of ``app=web``."""
    names = {p["metadata"]["name"] for p in w.snapshot()}
    server = {p["metadata"]["name"] for p in realkube.pods(ns, "app=web")}
    return bool(w.live) and len(names) == n and names == server
