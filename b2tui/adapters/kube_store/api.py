"""The kube store's API calls: ConfigMaps and Leases of one namespace, and its journals.

Every verb here is one the store's Roles grant (deploy/store-rbac.yaml): ConfigMaps get,
list, create, patch (the watch is :mod:`b2tui.adapters.kube_store.watch`); Leases get,
create, update, patch. A write the server could not take (unreachable, 5xx, 429) is
retried after a short back-off; :meth:`NamespaceApi.guard` turns what still fails into
one :class:`~b2tui.ports.StoreError` line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from b2tui.adapters.kube.client import Api, Conn
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube_store.journal import Journal
from b2tui.adapters.kube_store.objects import MANAGED, journal_labels, journal_name
from b2tui.ports import StoreError, StoreWriteFailed

_RETRIES = (0.1, 0.3, 1.0)
"""Back-off before retrying a write the server could not take (unreachable, 5xx, 429)."""


def _retryable(e: KubeApiError) -> bool:
    return e.status == 0 or e.status == 429 or e.status >= 500


class NamespaceApi:
    """The store's calls in ``namespace`` (a journal's :class:`ObjectApi`).

    Args:
        conn: the API connection (kubeconfig context, or in-cluster).
        namespace: where the store's objects live.
        chunk_bytes: bytes per journal chunk.
        request_timeout: seconds per request.
    """

    def __init__(
        self, conn: Conn, namespace: str, *, chunk_bytes: int, request_timeout: float
    ) -> None:
        self.conn = conn
        self.namespace = namespace
        self.chunk_bytes = chunk_bytes
        self.api = Api(conn, request_timeout)
        self.path = f"kube:{conn.context}/{namespace}"
        self._journals: dict[str, Journal] = {}
        self._lock = threading.Lock()

    def request(self, op: Op, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One call, retried while the server cannot take it; the answer's JSON."""
        for delay in (*_RETRIES, None):
            try:
                data = self.api.request(op, method, path, **kw)
                return dict(json.loads(data)) if data else {}
            except KubeApiError as e:
                if delay is None or not _retryable(e):
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, resource: str, name: str, path: str) -> dict[str, Any] | None:
        """GET one object; None when there is none (404)."""
        try:
            return self.request(Op("get", resource, self.namespace, name), "GET", path)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    def _merge_patch(
        self, resource: str, name: str, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """PATCH one object with a JSON merge patch (a ``metadata.resourceVersion`` in
        ``body`` makes it conditional)."""
        return self.request(
            Op("patch", resource, self.namespace, name),
            "PATCH",
            path,
            body=body,
            content_type="application/merge-patch+json",
        )

    def guard(self, what: str, fn: Callable[[], Any], *, write: bool = False) -> Any:
        """Run a store call; an API failure becomes a :class:`StoreError` line
        (:class:`StoreWriteFailed` for a write: nothing of it was kept)."""
        try:
            return fn()
        except KubeApiError as e:
            cls = StoreWriteFailed if write else StoreError
            raise cls(f"kube store {self.path}: {what}: {e}") from None

    # --- ConfigMaps ----------------------------------------------------------------------

    def _cm_path(self, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{self.namespace}/configmaps"
        return f"{base}/{name}" if name else base

    def get_configmap(self, name: str) -> dict[str, Any] | None:
        return self._get("configmaps", name, self._cm_path(name))

    def create_configmap(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**MANAGED, **(meta.get("labels") or {})}
        return self.request(
            Op("create", "configmaps", self.namespace, meta.get("name")),
            "POST",
            self._cm_path(),
            body=obj,
        )

    def patch_configmap(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._merge_patch("configmaps", name, self._cm_path(name), body)

    def list_configmaps(self, selector: str) -> list[dict[str, Any]]:
        doc = self.request(
            Op("list", "configmaps", self.namespace),
            "GET",
            self._cm_path(),
            query=[("labelSelector", selector)],
        )
        return list(doc.get("items") or [])

    def journal(self, kind: str, run_id: str | None) -> Journal:
        """The journal ``kind`` (events, audit, signoffs) of ``run_id``, or outside a run."""
        name = journal_name(kind, run_id)
        with self._lock:
            j = self._journals.get(name)
            if j is None:
                j = Journal(self, name, journal_labels(kind, run_id), self.chunk_bytes)
                self._journals[name] = j
            return j

    # --- Leases (coordination.k8s.io/v1) ---------------------------------------------------

    def _lease_path(self, name: str | None = None) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{name}" if name else base

    def get_lease(self, name: str) -> dict[str, Any] | None:
        return self._get("leases", name, self._lease_path(name))

    def create_lease(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            Op("create", "leases", self.namespace, name), "POST", self._lease_path(), body=body
        )

    def update_lease(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole Lease; ``body`` carries the resourceVersion it was computed from."""
        return self.request(
            Op("update", "leases", self.namespace, name), "PUT", self._lease_path(name), body=body
        )

    def patch_lease(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._merge_patch("leases", name, self._lease_path(name), body)
