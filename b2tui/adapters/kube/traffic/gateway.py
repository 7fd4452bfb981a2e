"""``traffic = "gateway"``: Gateway API HTTPRoute ``<route>`` gets ``backendRefs``
weights ``100-p`` for ``<service>`` and ``p`` for ``<service>-canary``."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.canary import ensure_canary_service
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import Op
from b2tui.adapters.kube.objects import Obj
from b2tui.adapters.kube.rollback import FirstWrite
from b2tui.domain.canary import ReplicaSplit
from b2tui.ports import SourceError, StepFailed, Target, TrafficSplit

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"


@dataclass(frozen=True)
class GatewayRouter:
    """Traffic by HTTPRoute backend weights."""

    target: Target
    route: str

    def _op(self, verb: str) -> Op:
        return Op(verb, "httproutes", self.target.namespace, self.route)

    def _read(self, api: Api) -> Obj:
        return dict(
            api.call(
                self._op("get"),
                api.conn.custom.get_namespaced_custom_object,
                GROUP,
                VERSION,
                self.target.namespace,
                PLURAL,
                self.route,
            )
        )

    def check(self, api: Api) -> list[str]:
        try:
            self._read(api)
        except SourceError as e:
            return [str(e)]
        return []

    def set_weight(self, api: Api, percent: int, split: ReplicaSplit) -> TrafficSplit:
        ensure_canary_service(api, self.target)
        self._set(api, percent)
        return TrafficSplit(percent, float(percent), f"weights {100 - percent}/{percent}")

    def verify(self, api: Api) -> TrafficSplit:
        weights = {}
        for rule in o.items(self._read(api), "spec", "rules"):
            for ref in rule.get("backendRefs") or []:
                weights[ref.get("name")] = int(ref.get("weight", 1))
        s = weights.get(self.target.service, 1)
        c = weights.get(self.target.canary_service, 0)
        p = round(100.0 * c / (s + c)) if s + c else 0
        return TrafficSplit(p, 100.0 * c / (s + c) if s + c else 0.0, f"weights {s}/{c}")

    def reset(self, api: Api) -> bool:
        return self._set(api, 0)

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        # The weights sit inside rules the server defaults (group, kind, matches): a test
        # of the rules as written would fail and cost a request; the reset reads first.
        return None

    def _set(self, api: Api, percent: int) -> bool:
        """Set the HTTPRoute backend weights; returns True when they changed."""
        route = self._read(api)
        current = o.items(route, "spec", "rules")
        rules = copy.deepcopy(current)
        stable_svc, canary_svc = self.target.service, self.target.canary_service
        found = False
        for rule in rules:
            refs = rule.get("backendRefs") or []
            stable_ref = next((r for r in refs if r.get("name") == stable_svc), None)
            if stable_ref is None:
                continue
            found = True
            others = [r for r in refs if r.get("name") not in (stable_svc, canary_svc)]
            canary_ref = {k: v for k, v in stable_ref.items() if k != "weight"}
            canary_ref["name"] = canary_svc
            rule["backendRefs"] = [
                *others,
                {**stable_ref, "weight": 100 - percent},
                {**canary_ref, "weight": percent},
            ]
        if not found:
            raise StepFailed(
                f"HTTPRoute {self.route} in namespace {self.target.namespace} has no backendRef"
                f" to service {stable_svc}; add one"
            )
        if rules == current:
            return False
        api.call(
            self._op("patch"),
            api.conn.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.target.namespace,
            PLURAL,
            self.route,
            {"spec": {"rules": rules}},
            _content_type="application/merge-patch+json",
        )
        return True
