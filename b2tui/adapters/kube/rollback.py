"""A rollback's first write, prepared before it is needed, and the thread that sends it.

When this process sets the canary it knows what it wrote: the canary's replicas and, with
``traffic = "nginx"``, the canary Ingress's weight. The traffic router turns that into a
:class:`FirstWrite`: the one request that takes the canary out of traffic, as a JSON
patch that *tests* the value written and replaces it with 0. A rollback sends it before
reading anything. The test makes a blind write safe: when anything changed the object
since (another process rolled back, a promote scaled the canary away, someone edited
it), the server refuses the patch and the rollback takes its read-then-write path
instead, so what it restores, and that a second rollback changes nothing, stay the same.

:class:`RollbackLine` is a single-thread executor that runs nothing but rollbacks and
their warm-up, each API context on a connection of its own: no pod poll, watch or
workflow step queues ahead of a rollback or holds its connection. :meth:`RollbackLine.warm`
sends one cheap ``GET /version`` on that connection (at run start and after each canary
step), so the thread exists and the connection is open (TCP, TLS, credentials) when the
rollback comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import Op
from b2tui.ports import SourceError, Target

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"
HANDOVER = 0.02
"""Longest the caller of :meth:`RollbackLine.submit` waits for the line's thread to start."""


@dataclass(frozen=True)
class FirstWrite:
    """A rollback's first request, built when the canary was set: sent without a read."""

    op: Op
    """What it does, for an error message."""
    path: str
    """The API path it patches."""
    patch: list[dict[str, Any]]
    """JSON patch operations: a ``test`` of the value this process wrote, then the reset."""

    def send(self, api: Api) -> bool:
        """Send it; False when the server refused it (the object is not as written)."""
        try:
            api.request(self.op, "PATCH", self.path, body=self.patch, content_type=JSON_PATCH)
        except SourceError as e:
            # A failed test (422), a missing object (404) or any other refusal: the
            # read-then-write path that follows finds out what the cluster really has.
            log.debug("prepared rollback write refused, reading first: %s", e)
            return False
        return True


def _pointer(key: str) -> str:
    """``key`` as one JSON-pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def canary_scale_to_zero(target: Target, replicas: int) -> FirstWrite:
    """The canary Deployment from ``replicas`` (as this process scaled it) to 0."""
    ns, name = target.namespace, target.canary
    spec = "/spec/replicas"
    return FirstWrite(
        Op("patch", "deployments/scale", ns, name),
        f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
        [
            {"op": "test", "path": spec, "value": replicas},
            {"op": "replace", "path": spec, "value": 0},
        ],
    )


def annotation_to_zero(target: Target, ingress: str, key: str, value: str) -> FirstWrite:
    """The Ingress ``ingress``'s annotation ``key`` from ``value`` (as written) to ``"0"``."""
    ns = target.namespace
    at = f"/metadata/annotations/{_pointer(key)}"
    return FirstWrite(
        Op("patch", "ingresses", ns, ingress),
        f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{ingress}",
        [{"op": "test", "path": at, "value": value}, {"op": "replace", "path": at, "value": "0"}],
    )


class RollbackLine:
    """One thread for rollbacks alone, with one API connection per context of its own.

    Args:
        connect: opens a new connection for a kube context (None: the current one).
    """

    def __init__(self, connect: Callable[[str | None], Api]) -> None:
        self._connect = connect
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="b2tui-rollback")
        self._apis: dict[str | None, Api] = {}
        """Touched only on the line's thread."""

    def submit(
        self,
        fn: Callable[Concatenate[Callable[[], None], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Awaitable[T]:
        """Run ``fn(handover, *args)`` on the line; return once it calls ``handover()``.

        The caller (the event loop, inside the key handler that asked for a rollback)
        waits, at most :data:`HANDOVER` seconds, until ``fn`` says its first write is
        done: meanwhile it holds no GIL and draws nothing, so the line's thread runs at
        once rather than after the interpreter's switch interval, between slices of the
        next frame. Await the result on the loop.
        """
        handed_over = threading.Event()

        def job() -> T:
            try:
                return fn(handed_over.set, *args, **kwargs)
            finally:
                handed_over.set()

        future = self._pool.submit(job)
        handed_over.wait(HANDOVER)
        return asyncio.wrap_future(future)

    def api(self, env: Target) -> Api:
        """The line's connection for ``env``'s context. Only on the line's thread."""
        api = self._apis.get(env.context)
        if api is None:
            api = self._apis[env.context] = self._connect(env.context)
        return api

    def warm(self, env: Target) -> None:
        """Start the thread and open (or keep open) its connection for ``env``."""
        self._pool.submit(self._warm, env)

    def _warm(self, env: Target) -> None:
        try:
            api = self.api(env)
            api.call(Op("get", "version"), api.conn.version.get_code)
        except SourceError as e:
            # Costs the rollback only the warm connection: it connects when it runs.
            log.debug("rollback line warm-up failed: %s", e)

    def close(self) -> None:
        """Close the connections once the work queued before has finished."""
        self._pool.submit(self._close_apis)
        self._pool.shutdown(wait=False)

    def _close_apis(self) -> None:
        for api in self._apis.values():
            with contextlib.suppress(Exception):
                api.conn.api.close()
        self._apis.clear()
