"""Connections to API servers and the requests the adapter makes on them.

:func:`connect` turns a kube context into a :class:`Conn` (kubeconfig, or the in-cluster
service account); :class:`Api` makes requests on it: responses are read raw
(``_preload_content=False``) and decoded as plain dicts, and every failure becomes one
:class:`~b2tui.adapters.kube.errors.KubeApiError` line. The client blocks, so the port
methods run in a worker thread through :func:`threaded`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.errors import KubeApiError, Op, describe_error, is_request_error
from b2tui.adapters.kube.objects import Obj
from b2tui.masking import register, register_basic
from b2tui.ports import RolloutState, StepFailed, Target

P = ParamSpec("P")
S = TypeVar("S")
T = TypeVar("T")
log = logging.getLogger(__name__)


def threaded(
    fn: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Make a blocking method a coroutine method that runs it in a worker thread.

    How a port method of the adapter leaves the event loop (all but ``rollback``, which
    has a thread of its own: :mod:`.rollback`): the body is written once, synchronously,
    and the wrapper awaits it through ``asyncio.to_thread``. The blocking body stays
    reachable as ``__wrapped__`` (for instrumentation).
    """

    @functools.wraps(fn)
    async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, self, *args, **kwargs)

    return run


WRITES = frozenset({"create", "patch", "apply", "delete", "update"})
"""Verbs of the requests that change something (``dryRun=All`` in a dry run)."""


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


@dataclass
class Conn:
    """One API client (one kube context) and the typed APIs on it."""

    api: client.ApiClient
    context: str
    user: str
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = str(self.api.configuration.host)

    # The typed APIs are built on first use: importing one of the client's API modules
    # builds its models (CoreV1Api alone takes seconds of CPU), and the store and the
    # status line need none of them.

    @functools.cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @functools.cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @functools.cached_property
    def net(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.api)

    @functools.cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @functools.cached_property
    def version(self) -> client.VersionApi:
        return client.VersionApi(self.api)

    def describe(self, exc: BaseException, op: Op) -> KubeApiError:
        """One line for a failed request on this connection."""
        return describe_error(exc, op, self.url, self.user, self.context)


def connect(kubeconfig: str, context: str | None) -> Conn:
    """A connection for ``context`` (None: the current one) of ``kubeconfig``.

    Without a kubeconfig file, inside a pod (``KUBERNETES_SERVICE_HOST``), the service
    account's in-cluster configuration is used.
    """
    path = kubeconfig
    exists = any(Path(p).expanduser().exists() for p in path.split(os.pathsep) if p)
    if not exists:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            cfg = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=cfg)
            except ConfigException as e:
                raise KubeApiError(f"in-cluster configuration failed: {e}") from None
            api = client.ApiClient(cfg)
            register_credentials(cfg)
            return Conn(api, context or "in-cluster", token_subject(api) or "serviceaccount")
        raise KubeApiError(
            f"kubeconfig {path} not found and not running in a cluster;"
            " set KUBECONFIG or pass the kubeconfig path"
        )
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, yaml.YAMLError) as e:
        raise KubeApiError(f"cannot read kubeconfig {path}: {e}") from None
    names = [c["name"] for c in contexts or []]
    name = context or (active or {}).get("name")
    entry = next((c for c in contexts or [] if c["name"] == name), None)
    if entry is None:
        known = ", ".join(names) or "none"
        raise KubeApiError(f"context {name} not found in kubeconfig {path} (contexts: {known})")
    try:
        api = config.new_client_from_config(config_file=path, context=name, persist_config=False)
    except (ConfigException, OSError, ValueError) as e:
        raise KubeApiError(f"kubeconfig {path}, context {name}: {e}") from None
    register_credentials(api.configuration)
    user = token_subject(api) or str((entry.get("context") or {}).get("user") or "unknown")
    if not api.configuration.verify_ssl and str(api.configuration.host).startswith("https:"):
        warn_unverified(str(name), path, str(api.configuration.host))
    return Conn(api, str(name), user)


_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


def warn_unverified(context: str, kubeconfig: str, url: str) -> None:
    """Say once per process, in one line, that ``context`` skips TLS verification, and
    silence urllib3's ``InsecureRequestWarning`` for that server: it would otherwise print
    a multi-line warning for every request."""
    host = urllib3.util.parse_url(url).host or ""
    with _WARNED_LOCK:
        if (kubeconfig, context) in _WARNED:
            return
        _WARNED.add((kubeconfig, context))
        warnings.filterwarnings(
            "ignore",
            message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
            category=urllib3.exceptions.InsecureRequestWarning,
        )
    log.warning(
        "b2tui: warning: kube context %s skips TLS verification (insecure-skip-tls-verify"
        " in %s): the identity of %s is not checked",
        context,
        kubeconfig,
        url,
    )


def register_credentials(cfg: client.Configuration) -> None:
    """The kubeconfig's credentials are secrets too: hide them wherever they turn up
    (an API server or proxy quoting a bad token back, a log line)."""
    for value in (cfg.api_key or {}).values():
        if isinstance(value, str):
            register(value, value.partition(" ")[2].strip())
    if cfg.password:
        register_basic(cfg.username or "", cfg.password)


def token_subject(api: client.ApiClient) -> str | None:
    """The user a ServiceAccount token (a JWT) authenticates as, from its ``sub`` claim:
    ``system:serviceaccount:<namespace>:<name>``. Not verified (the server does that); it
    only names the user in error messages the server sends without one. None for any
    other credential."""
    keys = api.configuration.api_key or {}
    auth = str(keys.get("BearerToken") or keys.get("authorization") or "")
    parts = auth.removeprefix("Bearer ").split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) and sub.startswith("system:serviceaccount:") else None


class Api:
    """Requests on one connection, each failure one :class:`KubeApiError` line.

    Args:
        conn: the connection.
        request_timeout: seconds per request.
        dry_run: send every write (an :class:`Op` whose verb is in :data:`WRITES`) with
            ``dryRun=All``: the server validates and answers, nothing is stored; waits
            for a rollout return at once.
    """

    def __init__(self, conn: Conn, request_timeout: float, *, dry_run: bool = False) -> None:
        self.conn = conn
        self.request_timeout = request_timeout
        self.dry_run = dry_run

    # --- generic ------------------------------------------------------------------------

    def raw(self, op: Op, fn: Callable[..., Any], *args: Any, **kw: Any) -> bytes:
        """Call a typed API method; the response body as bytes."""
        kw.setdefault("_request_timeout", self.request_timeout)
        if self.dry_run and op.verb in WRITES:
            kw["dry_run"] = "All"
        try:
            resp = fn(*args, _preload_content=False, **kw)
            return bytes(resp.data or b"")
        except Exception as e:
            if is_request_error(e):
                raise self.conn.describe(e, op) from None
            raise

    def call(self, op: Op, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Call a typed API method; the decoded JSON body."""
        data = self.raw(op, fn, *args, **kw)
        return json.loads(data) if data else {}

    def get(self, op: Op, fn: Callable[..., Any], *args: Any) -> Any:
        """A read that answers None on 404."""
        try:
            return self.call(op, fn, *args)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    def request(
        self,
        op: Op,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> bytes:
        """A request to any API path through the client (auth, TLS, proxy as configured)."""
        headers = {"Accept": "application/json"}
        if self.dry_run and op.verb in WRITES:
            query = [*(query or []), ("dryRun", "All")]
        if content_type:
            headers["Content-Type"] = content_type
        api = self.conn.api
        try:
            params = api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = api.call_api(*params, _request_timeout=self.request_timeout)
            data = resp.read()
            if not 200 <= resp.status <= 299:
                ApiException.from_response(
                    http_resp=resp, body=data.decode(errors="replace"), data=None
                )
            return bytes(data or b"")
        except Exception as e:
            if is_request_error(e):
                raise self.conn.describe(e, op) from None
            raise

    # --- Deployments, ReplicaSets, Services ---------------------------------------------

    def deployment(self, ns: str, name: str) -> Obj:
        return dict(
            self.call(
                Op("get", "deployments", ns, name),
                self.conn.apps.read_namespaced_deployment,
                name,
                ns,
            )
        )

    def maybe_deployment(self, ns: str, name: str) -> Obj | None:
        got: Obj | None = self.get(
            Op("get", "deployments", ns, name), self.conn.apps.read_namespaced_deployment, name, ns
        )
        return got

    def create_deployment(self, ns: str, body: Obj) -> None:
        self.call(
            Op("create", "deployments", ns, o.name(body)),
            self.conn.apps.create_namespaced_deployment,
            ns,
            body,
        )

    def patch_deployment(self, ns: str, name: str, body: Any, content_type: str) -> Obj:
        return dict(
            self.call(
                Op("patch", "deployments", ns, name),
                self.conn.apps.patch_namespaced_deployment,
                name,
                ns,
                body,
                _content_type=content_type,
            )
        )

    def scale(self, ns: str, name: str, replicas: int) -> Obj:
        return dict(
            self.call(
                Op("patch", "deployments/scale", ns, name),
                self.conn.apps.patch_namespaced_deployment_scale,
                name,
                ns,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",
            )
        )

    def replicasets(self, ns: str, deploy: Obj) -> list[Obj]:
        """ReplicaSets owned by ``deploy``."""
        doc = self.call(
            Op("list", "replicasets", ns),
            self.conn.apps.list_namespaced_replica_set,
            ns,
            label_selector=o.selector_string(o.match_labels(deploy)) or None,
        )
        return [rs for rs in o.items(doc, "items") if o.owned_by(rs, deploy)]

    def service(self, ns: str, name: str) -> Obj:
        return dict(
            self.call(
                Op("get", "services", ns, name), self.conn.core.read_namespaced_service, name, ns
            )
        )

    def maybe_service(self, ns: str, name: str) -> Obj | None:
        got: Obj | None = self.get(
            Op("get", "services", ns, name), self.conn.core.read_namespaced_service, name, ns
        )
        return got

    def set_image(
        self,
        target: Target,
        name: str,
        deploy: Obj,
        image: str,
        *,
        replicas: int | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        """Patch the app container of Deployment ``name`` (read as ``deploy``) to ``image``."""
        cs = o.containers(deploy)
        if not cs:
            raise StepFailed(f"deployment {name} in namespace {target.namespace} has no containers")
        cname = cs[o.app_container_index(o.spec(deploy), target.deployment)]["name"]
        body: dict[str, Any] = {
            "spec": {"template": {"spec": {"containers": [{"name": cname, "image": image}]}}}
        }
        if replicas is not None:
            body["spec"]["replicas"] = replicas
        if annotations:
            body["metadata"] = {"annotations": annotations}
        return dict(
            self.call(
                Op("patch", "deployments", target.namespace, name),
                self.conn.apps.patch_namespaced_deployment,
                name,
                target.namespace,
                body,
                _content_type="application/strategic-merge-patch+json",
            )
        )

    def wait_rollout(self, ns: str, name: str, timeout: float) -> RolloutState:
        """Poll Deployment ``name`` until its rollout completes; StepFailed otherwise."""
        if self.dry_run:
            return o.rollout_state(self.deployment(ns, name))
        deadline = time.monotonic() + timeout
        while True:
            state = o.rollout_state(self.deployment(ns, name))
            if state.complete:
                return state
            if state.failed:
                raise StepFailed(f"rollout of {name} failed: {state.message}")
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"rollout of {name} not complete after {timeout:.0f}s: {state.message}"
                )
            time.sleep(0.2)
