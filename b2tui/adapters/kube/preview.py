"""Blue-green preview: a Service on the idle colour, and smoke checks through it.

``[environments.<name>] preview_service`` names a Service b2tui points at the idle colour
before the switch (as Argo Rollouts' ``previewService``): created from the live Service
(same ports, same selector but the colour) when it does not exist, its selector's colour
patched when it does. The checks reach it from wherever b2tui runs through the API
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
    name, ns = target.preview_service, target.namespace
    if not name:
        raise StepFailed(f"{target.name}: no preview_service configured")
    if name == target.service:
        raise StepFailed(
            f"preview Service {name} is the live Service: it selects the live colour;"
            " name another Service in preview_service"
        )
    live = active_colour(api, target)
    if colour == live:
        raise StepFailed(
            f"preview Service {name} would select the live colour {live}: the idle colour"
            " is the other one"
        )
    label = target.colour_label
    svc = api.maybe_service(ns, name)
    if svc is None:
        src = api.service(ns, target.service)
        ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in _ports(src)]
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED)},
            "spec": {
                "type": "ClusterIP",
                "selector": {**o.service_selector(src), label: colour},
                "ports": ports,
            },
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
            {"spec": {"selector": {label: colour}}},
            _content_type="application/merge-patch+json",
        )
    return _path(api, target, colour)


def base(api: Api, target: Target) -> str:
    """The service-proxy path of the preview Service as it is now."""
    return _path(api, target, None)


def _path(api: Api, target: Target, colour: str | None) -> str:
    name, ns, label = str(target.preview_service), target.namespace, target.colour_label
    svc = api.service(ns, name)
    selects = o.service_selector(svc).get(label)
    if colour is not None and selects != colour:
        raise StepFailed(
            f"preview Service {name} selects {label}={selects}, not the idle colour {colour}:"
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
    shown = f"{spec.method.upper()} {target.preview_service}{url.path or '/'} (service proxy)"
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
