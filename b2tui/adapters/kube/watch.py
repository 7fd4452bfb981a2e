"""The pod cache: one namespace's pods matching a selector, fed by list + watch.

Also what every list + watch of b2tui shares (the kube store's ConfigMap watch too): the
thread and its stop (:class:`WatchThread`), reading one stream (:func:`read_stream`) and
what its ERROR events mean (:func:`watch_error`).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable
from typing import Any, Self

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from b2tui.adapters.kube.errors import KubeApiError, Op


class Expired(Exception):
    """The watch's resourceVersion is older than the server's history (HTTP 410)."""


def read_stream(resp: Any, stop: threading.Event, apply: Callable[[dict[str, Any]], None]) -> bool:
    """Hand each event of one watch stream to ``apply`` until the stream ends or ``stop``
    is set, then release the connection; True if the stream delivered anything."""
    progressed = False
    try:
        for line in iter_resp_lines(resp):
            if stop.is_set():
                break
            if line.strip():
                progressed = True
                apply(json.loads(line))
    except (
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.ReadTimeoutError,
        ConnectionError,
    ):
        # A dropped stream is routine (load balancers, API server restarts): resume.
        pass
    finally:
        with contextlib.suppress(Exception):
            resp.release_conn()
    return progressed


def watch_error(obj: dict[str, Any], what: str) -> Exception:
    """What the ERROR event ``obj`` of a watch on ``what`` means: :class:`Expired` for
    410 (list again), else a one-line :class:`KubeApiError`."""
    code = int(obj.get("code") or 0)
    if code == 410:
        return Expired()
    return KubeApiError(f"watch {what} failed: HTTP {code} {obj.get('message', '')}".rstrip(), code)


class WatchThread:
    """The daemon thread of a list + watch. :meth:`start` it once; :meth:`stop` closes the
    open stream so a blocked read returns at once. Subclasses implement :meth:`_run`.

    Args:
        name: the thread's name.
    """

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._live = threading.Event()
        self._resp: Any = None
        """The open watch stream, while there is one."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    @property
    def live(self) -> bool:
        """True while the watch follows the server (listed, and watching or about to)."""
        return self._live.is_set()

    def wait_live(self, timeout: float) -> bool:
        return self._live.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread: closes the open stream so a blocked read returns at once."""
        self._stop.set()
        self._live.clear()
        resp = self._resp
        if resp is not None:
            for closer in ("shutdown", "close"):
                with contextlib.suppress(Exception):
                    getattr(resp, closer)()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError


class PodWatch(WatchThread):
    """A cache of one namespace's pods matching a selector, fed by list + watch.

    A daemon thread lists the pods, then watches from the list's ``resourceVersion``.
    A dropped or timed-out stream resumes from the last version seen; a 410 (history
    compacted) relists; any other error backs off exponentially (capped at
    ``backoff_cap``) and retries. Nothing raises out of the thread: the last error is in
    :attr:`last_error`, and :attr:`live` says whether the cache can be trusted right now.

    Args:
        core: the ``CoreV1Api`` to use.
        namespace: namespace to watch.
        selector: label selector of the pods.
        describe: turns an exception into a one-line :class:`KubeApiError`.
        request_timeout: seconds for the list request (and the watch's connect).
        watch_timeout: ``timeoutSeconds`` asked of the server for each watch stream.
        backoff_base: first retry delay after an error, doubled per consecutive error.
        backoff_cap: longest retry delay.
    """

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        *,
        describe: Callable[[BaseException, Op], KubeApiError],
        request_timeout: float = 10.0,
        watch_timeout: int = 240,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
    ) -> None:
        super().__init__(f"b2tui-podwatch-{namespace}")
        self.namespace = namespace
        self.selector = selector
        self._core = core
        self._describe = describe
        self._request_timeout = request_timeout
        self._watch_timeout = watch_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._pods: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.resource_version: str | None = None
        """Last resourceVersion seen (list, event or bookmark): where a resume starts."""
        self.last_error: str | None = None
        """The last error, one line; cleared by the next successful list or watch."""
        self.errors = 0
        """Errors since start (each one was retried after a backoff)."""
        self.relists = 0
        """Lists after the first one (410 Expired, or recovery from an error in a list)."""
        self.resumes = 0
        """Watch streams reopened from the last resourceVersion."""
        self.last_backoff = 0.0
        """Delay before the latest retry, seconds."""

    # public

    @property
    def streaming(self) -> bool:
        """True while a watch stream is open."""
        return self._resp is not None

    def snapshot(self) -> list[dict[str, Any]]:
        """The cached pods (copies of the dicts' top level)."""
        with self._lock:
            return list(self._pods.values())

    # thread

    def _run(self) -> None:
        need_list = True
        delay = self._backoff_base
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                progressed = self._watch_once()
                if not self._stop.is_set():
                    self.resumes += 1
                delay = self._backoff_base
                if not progressed:
                    # A stream that closes at once, repeatedly, must not spin.
                    self._stop.wait(self._backoff_base)
            except Expired:
                need_list = True
                self.relists += 1
            except Exception as e:  # nothing escapes the thread: record, back off, retry
                if self._stop.is_set():
                    break
                err = (
                    e
                    if isinstance(e, KubeApiError)
                    else self._describe(e, Op("watch", "pods", self.namespace))
                )
                self.last_error = str(err)
                self.errors += 1
                self._live.clear()
                if isinstance(e, KubeApiError) and e.status == 410:
                    need_list = True
                self.last_backoff = delay
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._backoff_cap)

    def _list(self) -> None:
        op = Op("list", "pods", self.namespace)
        try:
            resp: Any = self._core.list_namespaced_pod(
                self.namespace,
                label_selector=self.selector or None,
                _preload_content=False,
                _request_timeout=self._request_timeout,
            )
            doc = json.loads(resp.data or b"{}")
        except ApiException as e:
            raise self._describe(e, op) from None
        pods = {p["metadata"]["name"]: p for p in doc.get("items") or []}
        with self._lock:
            self._pods = pods
        self.resource_version = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        self.last_error = None
        self._live.set()

    def _watch_once(self) -> bool:
        """Follow one watch stream until it ends; True if it delivered anything."""
        op = Op("watch", "pods", self.namespace)
        try:
            resp: Any = self._core.list_namespaced_pod(
                self.namespace,
                label_selector=self.selector or None,
                watch=True,
                resource_version=self.resource_version or None,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                _preload_content=False,
                # read timeout above the server-side timeout: silence means a dead peer
                _request_timeout=(self._request_timeout, self._watch_timeout + 30),
            )
        except ApiException as e:
            raise self._describe(e, op) from None
        self._resp = resp
        self._live.set()
        self.last_error = None
        try:
            return read_stream(resp, self._stop, self._apply)
        finally:
            self._resp = None

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise watch_error(obj, f"pods in namespace {self.namespace}")
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            with self._lock:
                self._pods[meta["name"]] = obj
        elif kind == "DELETED":
            with self._lock:
                self._pods.pop(meta.get("name", ""), None)
        if rv:
            self.resource_version = str(rv)
