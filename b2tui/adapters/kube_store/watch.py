"""Follow ConfigMaps by list + watch (not a poll loop).

A daemon thread lists the matching ConfigMaps, hands each to ``on_object``, then watches
from the list's resourceVersion; a dropped stream resumes from the last version seen, a
410 (history compacted) lists again, other errors back off and retry. Nothing raises out
of the thread: the last error is in :attr:`last_error`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from b2tui.adapters.kube.client import Conn
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube.watch import Expired, WatchThread, read_stream, watch_error


class _HasConn(Protocol):
    conn: Conn
    namespace: str


class ConfigMapWatch(WatchThread):
    """Args:
    owner: has ``conn`` and ``namespace``.
    label_selector: which ConfigMaps (may be empty).
    on_object: called with every object listed, added or modified.
    field_selector: e.g. ``metadata.name=b2tui-intents-web-production``.
    run_id: the run this watch follows (for the store's bookkeeping).
    """

    def __init__(
        self,
        owner: _HasConn,
        label_selector: str,
        on_object: Callable[[dict[str, Any]], None],
        *,
        field_selector: str | None = None,
        run_id: str | None = None,
        watch_timeout: int = 240,
    ) -> None:
        super().__init__("b2tui-cm-watch")
        self.conn = owner.conn
        self.namespace = owner.namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_object = on_object
        self.run_id = run_id
        self.watch_timeout = watch_timeout
        self.resource_version: str | None = None
        self.last_error: str | None = None

    def _call(self, **kw: Any) -> Any:
        return self.conn.core.list_namespaced_config_map(
            self.namespace,
            label_selector=self.label_selector or None,
            field_selector=self.field_selector,
            _preload_content=False,
            **kw,
        )

    def _run(self) -> None:
        need_list = True
        delay = 0.2
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch_once()
                delay = 0.2
            except Expired:
                need_list = True
            except Exception as e:  # record, back off, retry: the follower shows the error
                if self._stop.is_set():
                    break
                self._live.clear()
                err = (
                    e
                    if isinstance(e, KubeApiError)
                    else self.conn.describe(e, Op("watch", "configmaps", self.namespace))
                )
                self.last_error = str(err)
                need_list = True
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, 10.0)

    def _list(self) -> None:
        try:
            resp = self._call(_request_timeout=10)
            doc = json.loads(resp.data or b"{}")
        except ApiException as e:
            raise self.conn.describe(e, Op("list", "configmaps", self.namespace)) from None
        for obj in doc.get("items") or []:
            self.on_object(obj)
        self.resource_version = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        self.last_error = None
        self._live.set()

    def _watch_once(self) -> None:
        try:
            resp = self._call(
                watch=True,
                resource_version=self.resource_version or None,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_timeout,
                _request_timeout=(10, self.watch_timeout + 30),
            )
        except ApiException as e:
            raise self.conn.describe(e, Op("watch", "configmaps", self.namespace)) from None
        self._resp = resp
        try:
            progressed = read_stream(resp, self._stop, self._apply)
        finally:
            self._resp = None
        if not progressed:
            self._stop.wait(0.2)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise watch_error(obj, "configmaps")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            self.on_object(obj)
        if rv:
            self.resource_version = str(rv)
