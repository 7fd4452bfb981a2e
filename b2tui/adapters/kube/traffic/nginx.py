"""``traffic = "nginx"``: ingress-nginx canary weights, exact percentages.

A Service ``<service>-canary`` (stable selector + ``track: canary``) and an Ingress
``<ingress>-canary`` copied from the stable Ingress with its backends pointed at the
canary Service, annotated ``nginx.ingress.kubernetes.io/canary: "true"`` and
``nginx.ingress.kubernetes.io/canary-weight: "<percent>"``. With ``canary_header``, before
any weight, ``canary-by-header: <header>`` and ``canary-by-header-value: <value>`` send the
requests carrying it (the smoke checks) to the canary; a reset removes them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.canary import ensure_canary_service
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import Op
from b2tui.adapters.kube.objects import Obj
from b2tui.adapters.kube.rollback import FirstWrite, annotation_to_zero
from b2tui.domain.canary import ReplicaSplit
from b2tui.ports import SourceError, StepFailed, Target, TrafficSplit

NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
NGINX_BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
NGINX_BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"


def retarget_ingress(spec: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of an Ingress spec whose backends on service ``old`` point at ``new``."""
    spec = copy.deepcopy(spec)

    def fix(backend: dict[str, Any] | None) -> None:
        svc = (backend or {}).get("service")
        if svc and svc.get("name") == old:
            svc["name"] = new

    fix(spec.get("defaultBackend"))
    for rule in spec.get("rules") or []:
        for path in o.items(rule, "http", "paths"):
            fix(path.get("backend"))
    return spec


@dataclass(frozen=True)
class NginxRouter:
    """Traffic by the canary Ingress's weight annotation."""

    target: Target
    ingress: str
    """The stable Ingress."""

    @property
    def canary_ingress(self) -> str:
        return f"{self.ingress}-canary"

    def _read(self, api: Api, name: str) -> Obj | None:
        ns = self.target.namespace
        got: Obj | None = api.get(
            Op("get", "ingresses", ns, name), api.conn.net.read_namespaced_ingress, name, ns
        )
        return got

    def check(self, api: Api) -> list[str]:
        ns = self.target.namespace
        try:
            api.call(
                Op("get", "ingresses", ns, self.ingress),
                api.conn.net.read_namespaced_ingress,
                self.ingress,
                ns,
            )
        except SourceError as e:
            return [str(e)]
        return []

    def route_header(self, api: Api) -> str:
        header, value = self.target.canary_header, self.target.canary_header_value
        if not header:
            raise StepFailed(f"{self.target.name}: no canary_header configured")
        ensure_canary_service(api, self.target)
        want: dict[str, str | None] = {
            NGINX_CANARY: "true",
            NGINX_BY_HEADER: header,
            NGINX_BY_HEADER_VALUE: value,
        }
        self._write(api, want, create=True)
        return f"canary-by-header {header}: {value}"

    def set_weight(self, api: Api, percent: int, split: ReplicaSplit) -> TrafficSplit:
        ensure_canary_service(api, self.target)
        self._write(api, {NGINX_CANARY: "true", NGINX_WEIGHT: str(percent)}, create=True)
        return TrafficSplit(percent, float(percent), f"canary-weight={percent}")

    def verify(self, api: Api) -> TrafficSplit:
        ing = self._read(api, self.canary_ingress)
        w = o.annotations_of(ing).get(NGINX_WEIGHT, "0")
        p = int(w) if str(w).isdigit() else 0
        return TrafficSplit(p, float(p), f"canary-weight={p}")

    def reset(self, api: Api) -> bool:
        # Weight 0 and the header route gone: the canary's pods are going away.
        gone = {NGINX_CANARY: "true", NGINX_WEIGHT: "0"}
        return self._write(api, {**gone, NGINX_BY_HEADER: None, NGINX_BY_HEADER_VALUE: None})

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        if not percent:
            return None
        return annotation_to_zero(self.target, self.canary_ingress, NGINX_WEIGHT, str(percent))

    def _write(self, api: Api, want: dict[str, str | None], *, create: bool = False) -> bool:
        """Set (a value) or remove (None) annotations of the canary Ingress, creating it
        from the stable one when ``create``; returns True when anything changed."""
        ns = self.target.namespace
        name = self.canary_ingress
        cur = self._read(api, name)
        if cur is None:
            if not create:
                return False
            stable = api.call(
                Op("get", "ingresses", ns, self.ingress),
                api.conn.net.read_namespaced_ingress,
                self.ingress,
                ns,
            )
            spec = retarget_ingress(o.spec(stable), self.target.service, self.target.canary_service)
            body = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": o.labels(stable),
                    "annotations": {k: v for k, v in want.items() if v is not None},
                },
                "spec": spec,
            }
            api.call(
                Op("create", "ingresses", ns, name),
                api.conn.net.create_namespaced_ingress,
                ns,
                body,
            )
            return True
        notes = o.annotations_of(cur)
        if all(notes.get(k) == v for k, v in want.items()):
            return False
        api.call(
            Op("patch", "ingresses", ns, name),
            api.conn.net.patch_namespaced_ingress,
            name,
            ns,
            {"metadata": {"annotations": want}},
            _content_type="application/merge-patch+json",
        )
        return True
