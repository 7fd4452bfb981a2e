"""HTTP front of the test API server: routing, verbs, watches, faults and RBAC denials."""

from __future__ import annotations

import contextlib
import copy
import json
import queue
import random
import socket
import string
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import discovery, openapi
from .controllers import POD, Controllers, Settings
from .defaults import apply_defaults, check_immutable, validate
from .errors import ApiError, already_exists, conflict, gone, not_found
from .patch import (
    PatchDecodeError,
    PatchError,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from .selectors import SelectorError, field_matcher, label_matcher
from .store import BY_KIND, RESOURCES, Gone, Obj, ResourceType, Store, now_iso, resource_for

NAMESPACE = BY_KIND["Namespace"]
STATUS_SUBRESOURCE = {"Deployment", "ReplicaSet", "Pod"}
"""Kinds whose ``status`` only changes through ``/status`` (a PUT of the object keeps it)."""

PATCH_TYPES = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
}


@dataclass(frozen=True)
class Target:
    """What a URL names: a resource type, namespace, optional name and subresource."""

    rt: ResourceType
    namespace: str
    name: str = ""
    sub: str = ""


def parse_target(path: str) -> Target | None:
    """Resolve ``/api/v1/...`` or ``/apis/<g>/<v>/...`` to a :class:`Target`."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 2 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        return None
    if not rest:
        return None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and resource_for(group, version, rest[2]) is not None
    ):
        rt = resource_for(group, version, rest[2])
        assert rt is not None
        tail = rest[3:]
        if len(tail) > 2:
            return None
        name, sub = [*tail, "", ""][:2]
        return Target(rt, rest[1], name, sub)
    rt = resource_for(group, version, rest[0])
    if rt is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    return Target(rt, "", name, sub)


class KubeApiServer:
    """A Kubernetes API server on loopback, faithful where b2tui and kubectl depend on it.

    Serves the core, apps, networking, gateway and coordination resources b2tui uses, with
    watches, the four patch types, dry runs and a Deployment → ReplicaSet → Pod controller
    whose pods become Ready after ``ready_delay`` (or crash-loop); watch trouble with
    :meth:`drop_watches` and :meth:`compact`. HTTP faults and RBAC denials come from the
    real control plane and the proxy in front of it (``tests/realkube``).

    Args:
        ready_delay: seconds before a new pod turns Ready.
        progress_deadline: overrides every Deployment's ``spec.progressDeadlineSeconds``
            (seconds), so tests reach ``ProgressDeadlineExceeded`` quickly.
        token: when set, requests without ``Authorization: Bearer <token>`` get 401.
    """

    bookmark_interval: float = 5.0
    """Seconds between BOOKMARK events on watches that allow them."""

    def __init__(
        self,
        *,
        ready_delay: float = 0.2,
        progress_deadline: float | None = None,
        token: str | None = None,
    ) -> None:
        self.store = Store()
        self.settings = Settings(ready_delay=ready_delay, progress_deadline=progress_deadline)
        self.controllers = Controllers(self.store, self.settings)
        self.token = token
        self.user = "tester"
        self.self_subject: dict[str, Any] | None = None
        """``status.userInfo`` a ``SelfSubjectReview`` answers (``authentication.k8s.io/v1``,
        GA in 1.28: ``username``, ``uid``, ``groups``, ``extra``); None: the API is not
        served (404), as on 1.20."""
        self.url = ""
        self.requests: list[tuple[str, str]] = []
        """(method, path?query) of every request received, in order."""
        self.requests_timed: list[tuple[float, str, str]] = []
        """(``time.monotonic()`` on arrival, method, path?query) of every request, in order."""
        self._logs: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        for ns in ("default", "kube-system", "kube-public"):
            self._seed(NAMESPACE, {"metadata": {"name": ns}})

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> KubeApiServer:
        """Bind a free port on 127.0.0.1 and serve in background threads."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.api = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.controllers.start()
        return self

    def stop(self) -> None:
        """Stop serving: end watches, the controllers and the listener."""
        self.stopping.set()
        self.store.drop_watches()
        self.controllers.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        context: str = "test",
        namespace: str = "default",
        user: str = "tester",
    ) -> Path:
        """Write a kubeconfig pointing at this server (with the token, if any)."""
        self.user = user
        creds: dict[str, Any] = {"token": self.token} if self.token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": creds}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": user, "namespace": namespace},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        p = Path(path)
        p.write_text(yaml.safe_dump(config, sort_keys=False))
        return p

    # --- seeding and inspection ------------------------------------------------------------

    def _seed(self, rt: ResourceType, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        apply_defaults(rt, obj)
        validate(rt, obj)
        meta = obj["metadata"]
        old = self.store.get(rt, meta.get("namespace", ""), meta["name"])
        if old is not None and rt.kind in STATUS_SUBRESOURCE and "status" not in obj:
            obj["status"] = old.get("status")
        return self.store.put(rt, obj)

    def apply_yaml(self, text: str) -> list[dict[str, Any]]:
        """Create or replace every object of a multi-document YAML; returns them stored.

        Namespaces the objects live in are created when missing (this is seeding, not
        the API: a POST into a missing namespace still answers 404).
        """
        out = []
        with self.store.lock:
            for doc in yaml.safe_load_all(text):
                if not doc:
                    continue
                rt = BY_KIND.get(doc.get("kind", ""))
                if rt is None:
                    raise ValueError(f"kind {doc.get('kind')!r} is not served by KubeApiServer")
                meta = doc.setdefault("metadata", {})
                if rt.namespaced:
                    meta.setdefault("namespace", "default")
                    if self.store.get(NAMESPACE, "", meta["namespace"]) is None:
                        self._seed(NAMESPACE, {"metadata": {"name": meta["namespace"]}})
                out.append(self._seed(rt, doc))
        return out

    def get_object(self, api_path: str) -> dict[str, Any] | None:
        """The stored object at an API path (``/apis/apps/v1/namespaces/ns/deployments/web``)."""
        t = parse_target(api_path)
        if t is None or not t.name:
            raise ValueError(f"{api_path!r} does not name an object")
        return self.store.get(t.rt, t.namespace, t.name)

    def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of ``kind`` (``"Pod"``, ``"ReplicaSet"`` …), optionally one namespace."""
        return self.store.list(BY_KIND[kind], namespace)

    # --- trouble ---------------------------------------------------------------------------

    def drop_watches(self) -> None:
        """Close every open watch stream abruptly (no terminating chunk)."""
        self.store.drop_watches()

    def compact(self) -> None:
        """Forget history: watches resuming from an older resourceVersion get 410 Expired."""
        self.store.compact()

    def set_pod_log(self, image_substring: str, text: str) -> None:
        """Log body of pods whose image contains ``image_substring`` (latest call wins)."""
        with self._lock:
            self._logs.insert(0, (image_substring, text, time.time()))

    def crash_images(self) -> set[str]:
        """The mutable set of image substrings whose pods crash-loop (default ``{"crash"}``)."""
        return self.settings.crash_images

    # --- used by the handler ---------------------------------------------------------------

    def pod_log(self, pod: Obj, container: str) -> tuple[str, float]:
        """(log text, when it was written) for one container of a pod."""
        image = next(
            (c.get("image", "") for c in pod["spec"]["containers"] if c["name"] == container), ""
        )
        with self._lock:
            for marker, text, at in self._logs:
                if marker in image:
                    return text, at
        return (
            f"starting {container} ({image})\nlistening on :8080\n",
            time.time(),
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test/1.32"

    @property
    def api(self) -> KubeApiServer:
        return self.server.api  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests assert on KubeApiServer.requests; stderr noise helps no one

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing --------------------------------------------------------------------------

    def _send(
        self,
        code: int,
        body: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", self._audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: ApiError) -> None:
        headers = {"Retry-After": "1"} if err.code in (429, 503) else None
        self._send(err.code, err.status(), headers=headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        self._audit_id = "".join(random.choices(string.hexdigits.lower(), k=32))
        api = self.api
        api.requests_timed.append((time.monotonic(), method, self.path))
        api.requests.append((method, self.path))
        body = self._body()
        try:
            if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method, body)
        except ApiError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug here must surface as a 500, not a hung client
            self._error(ApiError(500, f"Internal error occurred: {type(exc).__name__}: {exc}"))

    def _route(self, method: str, body: bytes) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        doc = discovery.document(url.path, self.api.url) or openapi.document(url.path)
        if doc is not None:
            if method != "GET":
                raise ApiError(405, f"the server does not allow this method on {url.path}")
            self._send(200, doc)
            return
        if url.path in ("/healthz", "/livez", "/readyz"):
            self._send(200, "ok", "text/plain")
            return
        review = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        if url.path == review and self.api.self_subject is not None:
            if method != "POST":
                raise ApiError(405, f"the server does not allow this method on {url.path}")
            self._send(
                201,
                {
                    "kind": "SelfSubjectReview",
                    "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"creationTimestamp": None},
                    "status": {"userInfo": self.api.self_subject},
                },
            )
            return
        target = parse_target(url.path)
        if target is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if target.rt.namespaced and not target.namespace and target.name:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if target.sub and target.sub not in target.rt.subresources:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        verb = {
            "GET": "get" if target.name else "list",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if target.name else "deletecollection",
        }[method]
        if verb == "list" and query.get("watch") in ("true", "1"):
            verb = "watch"
        dry_run = query.get("dryRun") == "All"
        handler = getattr(self, f"_{verb}")
        handler(target, query, body, dry_run)

    # --- reads -----------------------------------------------------------------------------

    def _current(self, t: Target) -> Obj:
        obj = self.api.store.get(t.rt, t.namespace, t.name)
        if obj is None:
            raise not_found(t.rt, t.name)
        return obj

    def _get(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        obj = self._current(t)
        if t.sub == "scale":
            self._send(200, _scale_of(obj))
        elif t.sub == "log":
            self._send(200, self._log(obj, query), "text/plain")
        else:
            self._send(200, obj)

    def _log(self, pod: Obj, query: dict[str, str]) -> str:
        names = [c["name"] for c in pod["spec"]["containers"]]
        name = query.get("container") or (names[0] if len(names) == 1 else "")
        pod_name = pod["metadata"]["name"]
        if not name:
            raise ApiError(
                400,
                f"a container name must be specified for pod {pod_name}, "
                f"choose one of: [{' '.join(names)}]",
            )
        if name not in names:
            raise ApiError(400, f"container {name} is not valid for pod {pod_name}")
        state = next(
            (
                s.get("state") or {}
                for s in (pod.get("status") or {}).get("containerStatuses") or []
                if s["name"] == name
            ),
            {},
        )
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting in (None, "ContainerCreating") and "running" not in state:
            raise ApiError(
                400,
                f'container "{name}" in pod "{pod_name}" is waiting to start: '
                f"{waiting or 'ContainerCreating'}",
            )
        text, written = self.api.pod_log(pod, name)
        if "sinceSeconds" in query and time.time() - written > float(query["sinceSeconds"]):
            return ""
        lines = text.splitlines(keepends=True)
        if "tailLines" in query:
            n = int(query["tailLines"])
            lines = lines[-n:] if n > 0 else []
        if query.get("timestamps") == "true":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(written))
            lines = [f"{stamp} {line}" for line in lines]
        return "".join(lines)

    def _list_items(self, t: Target, query: dict[str, str]) -> list[Obj]:
        try:
            by_label = label_matcher(query.get("labelSelector"))
            by_field = field_matcher(query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, str(exc)) from None
        ns = t.namespace if t.rt.namespaced and t.namespace else None
        return [o for o in self.api.store.list(t.rt, ns) if by_label(o) and by_field(o)]

    def _list(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        with self.api.store.lock:
            items = self._list_items(t, query)
            rv = self.api.store.resource_version
        for item in items:
            # The API server sends list items without kind/apiVersion: the list has them.
            item.pop("kind", None)
            item.pop("apiVersion", None)
        self._send(
            200,
            {
                "kind": f"{t.rt.kind}List",
                "apiVersion": t.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    # --- watch -----------------------------------------------------------------------------

    def _watch(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        api = self.api
        try:
            by_label = label_matcher(query.get("labelSelector"))
            by_field = field_matcher(query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, str(exc)) from None

        def matches(o: Obj | None) -> bool:
            return o is not None and by_label(o) and by_field(o)

        rv_param = query.get("resourceVersion", "")
        since = int(rv_param) if rv_param not in ("", "0") else None
        ns = t.namespace if t.rt.namespaced and t.namespace else None
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = query.get("allowWatchBookmarks") == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Audit-Id", self._audit_id)
        self.end_headers()
        self.close_connection = True  # one watch per connection, like the real server
        try:
            w, first = api.store.open_watch(t.rt, ns, since)
        except Gone as exc:
            err = gone(str(exc))
            self._chunk({"type": "ERROR", "object": err.status()})
            self._end()
            return
        w.closers.append(lambda: self.connection.shutdown(socket.SHUT_RDWR))
        try:
            deadline = time.monotonic() + timeout if timeout is not None else None
            last_rv = since or 0
            for ev in first:
                self._send_event(ev.type, ev.obj, ev.prev, matches)
                last_rv = max(last_rv, ev.rv)
            next_bookmark = time.monotonic() + api.bookmark_interval
            while not api.stopping.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait = min(0.5, (deadline - now) if deadline is not None else 0.5)
                try:
                    item = w.events.get(timeout=max(wait, 0.001))
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + api.bookmark_interval
                        self._chunk(
                            {
                                "type": "BOOKMARK",
                                "object": {
                                    "kind": t.rt.kind,
                                    "apiVersion": t.rt.api_version,
                                    "metadata": {"resourceVersion": api.store.resource_version},
                                },
                            }
                        )
                    continue
                if item is None or w.dropped:
                    return  # dropped: no terminating chunk, the client sees a cut stream
                if item.rv <= last_rv:
                    continue  # already sent during the replay
                last_rv = item.rv
                self._send_event(item.type, item.obj, item.prev, matches)
            self._end()
        except OSError:
            self.close_connection = True
        finally:
            api.store.close_watch(w)

    def _send_event(self, etype: str, obj: Obj, prev: Obj | None, matches: Any) -> None:
        now_in, was_in = matches(obj), matches(prev)
        if etype == "MODIFIED" and now_in and not was_in:
            etype = "ADDED"  # moved into the selector
        elif etype == "MODIFIED" and was_in and not now_in:
            etype, now_in = "DELETED", True  # moved out of the selector
        elif etype == "DELETED":
            now_in = was_in or now_in
        if now_in:
            self._chunk({"type": etype, "object": obj})

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    # --- writes ----------------------------------------------------------------------------

    def _decode(self, body: bytes) -> Any:
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        try:
            if "yaml" in ctype:
                return yaml.safe_load(body.decode() or "null")
            return json.loads(body.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(
                400, f"the body of the request was in an unknown format: {exc}"
            ) from None

    def _prepare(self, t: Target, obj: Any, namespace: str) -> Obj:
        if not isinstance(obj, dict):
            raise ApiError(400, "the body of the request must be an object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != t.rt.kind) or (api_version and api_version != t.rt.api_version):
            raise ApiError(
                400,
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({t.rt.api_version}) or kind {kind} is not {t.rt.kind}",
            )
        meta = obj.setdefault("metadata", {})
        if t.rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request",
                )
            meta["namespace"] = namespace
        apply_defaults(t.rt, obj)
        validate(t.rt, obj)
        return obj

    def _require_namespace(self, t: Target) -> None:
        if t.rt.namespaced and self.api.store.get(NAMESPACE, "", t.namespace) is None:
            raise not_found(NAMESPACE, t.namespace)

    def _create(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        if t.name:
            raise ApiError(405, f"the server does not allow this method on {t.rt.key}/{t.sub}")
        obj = self._decode(body)
        if isinstance(obj, dict):
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
                meta["name"] = meta["generateName"] + suffix
        with self.api.store.lock:
            self._require_namespace(t)
            obj = self._prepare(t, obj, t.namespace)
            name = obj["metadata"]["name"]
            if self.api.store.get(t.rt, t.namespace, name) is not None:
                raise already_exists(t.rt, name)
            if t.rt.kind in STATUS_SUBRESOURCE:
                obj.pop("status", None)
            obj["metadata"].pop("resourceVersion", None)
            stored = self.api.store.put(t.rt, obj, dry_run=dry_run)
        self._send(201, stored)

    def _store_update(self, t: Target, old: Obj, new: Obj, dry_run: bool) -> Obj:
        """Write ``new`` over ``old`` (main resource or ``/status``), keeping the other half."""
        meta = new.setdefault("metadata", {})
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(t.rt, t.name)
        if meta.get("name") != t.name:
            raise ApiError(
                400,
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({t.name})",
            )
        if t.sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            new = merged
        else:
            new = self._prepare(t, new, t.namespace)
            check_immutable(t.rt, old, new)
            if t.rt.kind in STATUS_SUBRESOURCE:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        return self.api.store.put(t.rt, new, dry_run=dry_run)

    def _update(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        if not t.name:
            raise ApiError(405, f"the server does not allow this method on {t.rt.key}")
        new = self._decode(body)
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request must be an object")
        with self.api.store.lock:
            old = self._current(t)
            if t.sub == "scale":
                stored = self._write_scale(t, old, new, dry_run)
            else:
                stored = self._store_update(t, old, new, dry_run)
        self._send(200, stored)

    def _write_scale(self, t: Target, old: Obj, scale: Obj, dry_run: bool) -> Obj:
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(t.rt, t.name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
                "Invalid",
            )
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = replicas
        return _scale_of(self.api.store.put(t.rt, new, dry_run=dry_run))

    def _patch(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        if not t.name:
            raise ApiError(405, f"the server does not allow this method on {t.rt.key}")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        kind = PATCH_TYPES.get(ctype)
        if kind is None:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(PATCH_TYPES)}",
            )
        patch = self._decode(body)
        if kind == "apply" and not query.get("fieldManager"):
            raise ApiError(
                422,
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
                "Invalid",
            )
        with self.api.store.lock:
            old = self.api.store.get(t.rt, t.namespace, t.name)
            if old is None:
                if kind != "apply" or t.sub:
                    raise not_found(t.rt, t.name)
                # Server-side apply creates what does not exist yet.
                self._require_namespace(t)
                if not isinstance(patch, dict):
                    raise ApiError(400, "the body of the request must be an object")
                patch.setdefault("metadata", {}).setdefault("name", t.name)
                obj = self._prepare(t, apply_patch({}, patch), t.namespace)
                if t.rt.kind in STATUS_SUBRESOURCE:
                    obj.pop("status", None)
                self._send(201, self.api.store.put(t.rt, obj, dry_run=dry_run))
                return
            base = _scale_of(old) if t.sub == "scale" else old
            try:
                if kind == "strategic":
                    new = strategic_merge_patch(base, patch)
                elif kind == "merge":
                    new = merge_patch(base, patch)
                elif kind == "json":
                    new = json_patch(base, patch)
                else:
                    new = apply_patch(base, patch)
            except PatchDecodeError as exc:
                raise ApiError(400, str(exc)) from None
            except PatchError as exc:
                raise ApiError(422, str(exc), "Invalid") from None
            if not isinstance(new, dict):
                raise ApiError(422, "the patch does not produce an object", "Invalid")
            if t.sub == "scale":
                stored = self._write_scale(t, old, new, dry_run)
            else:
                new.setdefault("metadata", {})
                new["metadata"].setdefault("name", t.name)
                patched_rv = (
                    (patch.get("metadata") or {}).get("resourceVersion")
                    if isinstance(patch, dict)
                    else None
                )
                # A patch is a precondition on resourceVersion only if it names one.
                if not patched_rv:
                    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                stored = self._store_update(t, old, new, dry_run)
        self._send(200, stored)

    def _delete(self, t: Target, query: dict[str, str], body: bytes, dry_run: bool) -> None:
        with self.api.store.lock:
            old = self._current(t)
            if dry_run:
                gone_obj = old
            else:
                if t.rt is NAMESPACE:
                    for rt in RESOURCES:
                        if rt.namespaced:
                            for o in self.api.store.list(rt, t.name):
                                self.api.store.remove(rt, t.name, o["metadata"]["name"])
                gone_obj = self.api.store.remove(t.rt, t.namespace, t.name) or old
        if t.rt in (POD, NAMESPACE):
            if t.rt is NAMESPACE:
                gone_obj["status"] = {"phase": "Terminating"}
            gone_obj["metadata"]["deletionTimestamp"] = now_iso()
            self._send(200, gone_obj)
            return
        details: dict[str, Any] = {
            "name": t.name,
            "kind": t.rt.plural,
            "uid": gone_obj["metadata"]["uid"],
        }
        if t.rt.group:
            details["group"] = t.rt.group
        self._send(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )

    def _deletecollection(
        self, t: Target, query: dict[str, str], body: bytes, dry_run: bool
    ) -> None:
        with self.api.store.lock:
            items = self._list_items(t, query)
            if not dry_run:
                for o in items:
                    self.api.store.remove(
                        t.rt, o["metadata"].get("namespace", ""), o["metadata"]["name"]
                    )
            rv = self.api.store.resource_version
        self._send(
            200,
            {
                "kind": f"{t.rt.kind}List",
                "apiVersion": t.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )


def _scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    sel = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": sel,
        },
    }
