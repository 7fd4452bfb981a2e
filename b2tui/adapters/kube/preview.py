"""Preview: a Service on the new version before users reach it, and smoke checks through it.

``[environments.<name>] preview_service`` names a Service b2tui points at blue-green's idle
colour before the switch (as Argo Rollouts' ``previewService``), or at the canary's pods
(``<track_label>: canary``) before its first weight: created from the live Service (same
ports, same selector plus the colour or track) when it does not exist, that one label
patched when it does. A canary routed by header (``canary_header``) without a preview
Service is checked through ``<service>-canary``, the Service its header route sends to.
The checks reach it from wherever b2tui runs through the API
server's service proxy (``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>``):
no port-forward and no cluster DNS, with the kubeconfig's credentials and TLS.
"""

from __future__ import annotations

import time

import httpx
from kubernetes.client.exceptions import ApiException

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.bluegreen import active_colour
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import Op, is_request_error
from b2tui.config import HttpCheck
from b2tui.ports import CheckResult, StepFailed, Target

MANAGED = {"app.kubernetes.io/managed-by": "b2tui"}


def point(api: Api, target: Target, colour: str) -> str:
    """Point the preview Service at ``colour``; return its service-proxy path.

    Raises:
        StepFailed: no preview Service is configured, it is the live Service, or it
            would select the colour that serves users now.
    """
    name = _preview_of(target)
    live = active_colour(api, target)
    if colour == live:
        raise StepFailed(
            f"preview Service {name} would select the live colour {live}: the idle colour"
            " is the other one"
        )
    _select(api, target, target.colour_label, colour)
    return _path(api, target, name, (target.colour_label, colour), "the idle colour")


def point_canary(api: Api, target: Target) -> str:
    """Point the preview Service at the canary's pods (``<track_label>: canary``); return
    its service-proxy path. Raises StepFailed as :func:`point` does."""
    name = _preview_of(target)
    _select(api, target, target.track_label, "canary")
    return _path(api, target, name, (target.track_label, "canary"), "the canary")


def _preview_of(target: Target) -> str:
    name = target.preview_service
    if not name:
        raise StepFailed(f"{target.name}: no preview_service configured")
    if name == target.service:
        raise StepFailed(
            f"preview Service {name} is the live Service: it selects the live colour;"
            " name another Service in preview_service"
        )
    return name


def _select(api: Api, target: Target, label: str, value: str) -> None:
    """The preview Service selecting ``label: value`` (created from the live Service,
    same ports and selector, when missing)."""
    name, ns = str(target.preview_service), target.namespace
    svc = api.maybe_service(ns, name)
    if svc is None:
        src = api.service(ns, target.service)
        ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in _ports(src)]
        selector = {**o.service_selector(src), label: value}
        if label == target.track_label:
            # A canary's pods: whatever colour the live Service names is not theirs.
            selector.pop(target.colour_label, None)
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED)},
            "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
        }
        api.call(
            Op("create", "services", ns, name),
            api.conn.core.create_namespaced_service,
            ns,
            body,
        )
    else:
        api.call(
            Op("patch", "services", ns, name),
            api.conn.core.patch_namespaced_service,
            name,
            ns,
            {"spec": {"selector": {label: value}}},
            _content_type="application/merge-patch+json",
        )


def reach(target: Target) -> str:
    """The Service the checks go through: the preview Service, else (a canary routed by
    header) ``<service>-canary``, what the header route sends to."""
    if target.preview_service:
        return target.preview_service
    if target.canary_header:
        return target.canary_service
    raise StepFailed(f"{target.name}: no preview_service configured")


def base(api: Api, target: Target) -> str:
    """The service-proxy path of the Service the checks reach (:func:`reach`) as it is."""
    return _path(api, target, reach(target), None, "")


def _path(api: Api, target: Target, name: str, want: tuple[str, str] | None, what: str) -> str:
    ns = target.namespace
    svc = api.service(ns, name)
    if want is not None:
        label, value = want
        selects = o.service_selector(svc).get(label)
        if selects != value:
            raise StepFailed(
                f"preview Service {name} selects {label}={selects}, not {what} ({value}):"
                f" give it a selector b2tui may set ({label})"
            )
    ports = _ports(svc)
    if not ports:
        raise StepFailed(f"preview Service {name} has no ports: copy the live Service's")
    port = ports[0].get("name") or ports[0].get("port")
    return f"/api/v1/namespaces/{ns}/services/{name}:{port}/proxy"


def _ports(svc: o.Obj) -> list[dict[str, object]]:
    return [dict(p) for p in o.items(svc, "spec", "ports")]


def check(api: Api, target: Target, base: str, spec: HttpCheck) -> CheckResult:
    """``spec`` (its method, path, query and headers; not its host) sent to the preview
    Service through the service proxy until it answers as expected or the retries are
    spent. Pass detail: ``200 in 12 ms``; fail detail: what came back, and where."""
    url = httpx.URL(spec.url)
    path = base + (url.path or "/")
    query = list(url.params.multi_items())
    shown = f"{spec.method.upper()} {reach(target)}{url.path or '/'} (service proxy)"
    attempts = max(1, spec.retries + 1)
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(2.0, 0.2 * 2 ** (attempt - 1)))
        ok, problem = _attempt(api, spec, path, query)
        if ok:
            return CheckResult(True, problem)
    tries = f", {attempts} attempts" if attempts > 1 else ""
    return CheckResult(False, f"{problem} ({shown}{tries})")


def _attempt(
    api: Api, spec: HttpCheck, path: str, query: list[tuple[str, str]]
) -> tuple[bool, str]:
    client = api.conn.api
    started = time.monotonic()
    try:
        params = client.param_serialize(
            method=spec.method.upper(),
            resource_path=path,
            query_params=query,
            header_params=dict(spec.headers),
            auth_settings=["BearerToken"],
        )
        resp = client.call_api(*params, _request_timeout=spec.timeout)
        status, body = resp.status, resp.read()
    except ApiException as e:
        status, body = int(e.status or 0), (e.body or b"")
    except Exception as e:
        if is_request_error(e):
            return False, str(api.conn.describe(e, Op("get", "services/proxy")))
        raise
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    elapsed = (time.monotonic() - started) * 1000
    if status != spec.expect_status:
        return False, f"expected {spec.expect_status}, got {status}"
    if spec.body_contains is not None and spec.body_contains not in text:
        return False, f"body lacks {spec.body_contains!r}"
    return True, f"{status} in {elapsed:.0f} ms"
