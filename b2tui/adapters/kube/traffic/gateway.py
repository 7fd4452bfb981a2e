"""``traffic = "gateway"``: Gateway API HTTPRoute ``<route>`` gets ``backendRefs``
weights ``100-p`` for ``<service>`` and ``p`` for ``<service>-canary``.

With ``canary_header``, before any weight, each rule that sends to ``<service>`` gets a
twin in front of it: the same matches plus an ``Exact`` header match, sending only to
``<service>-canary`` (a more specific match wins in Gateway API's precedence). A reset
removes the twins (any rule that sends only to the canary Service on a header match)."""

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

    def route_header(self, api: Api) -> str:
        header, value = self.target.canary_header, self.target.canary_header_value
        if not header:
            raise StepFailed(f"{self.target.name}: no canary_header configured")
        ensure_canary_service(api, self.target)
        route = self._read(api)
        current = o.items(route, "spec", "rules")
        if not any(self._header_twin(r, header) for r in current):
            rules = [r for r in copy.deepcopy(current) if not self._header_twin(r)]
            twins = [self._twin(r, header, value) for r in rules if self._stable_ref(r)]
            if not twins:
                raise self._no_stable_ref()
            self._patch(api, [*twins, *rules])
        return f"header match {header}: {value}"

    def _stable_ref(self, rule: Obj) -> Obj | None:
        refs = rule.get("backendRefs") or []
        return next((r for r in refs if r.get("name") == self.target.service), None)

    def _header_twin(self, rule: Obj, header: str | None = None) -> bool:
        """Whether ``rule`` is a header route to the canary (on ``header`` when given)."""
        refs = rule.get("backendRefs") or []
        if not refs or any(r.get("name") != self.target.canary_service for r in refs):
            return False
        names = [
            str(h.get("name", "")).lower()
            for m in rule.get("matches") or []
            for h in m.get("headers") or []
        ]
        return bool(names) and (header is None or header.lower() in names)

    def _twin(self, rule: Obj, header: str, value: str) -> Obj:
        """``rule`` for the requests carrying ``header: value``, sent to the canary only."""
        stable_ref = self._stable_ref(rule) or {}
        canary_ref = {k: v for k, v in stable_ref.items() if k != "weight"}
        canary_ref["name"] = self.target.canary_service
        match = {"type": "Exact", "name": header, "value": value}
        matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
        return {
            **{k: v for k, v in rule.items() if k not in ("matches", "backendRefs")},
            "matches": [
                {
                    **m,
                    "headers": [
                        *(
                            h
                            for h in m.get("headers") or []
                            if str(h.get("name", "")).lower() != header.lower()
                        ),
                        match,
                    ],
                }
                for m in matches
            ],
            "backendRefs": [canary_ref],
        }

    def verify(self, api: Api) -> TrafficSplit:
        weights = {}
        for rule in o.items(self._read(api), "spec", "rules"):
            if not self._stable_ref(rule):
                continue  # a header route to the canary is not part of the split
            for ref in rule.get("backendRefs") or []:
                weights[ref.get("name")] = int(ref.get("weight", 1))
        s = weights.get(self.target.service, 1)
        c = weights.get(self.target.canary_service, 0)
        p = round(100.0 * c / (s + c)) if s + c else 0
        return TrafficSplit(p, 100.0 * c / (s + c) if s + c else 0.0, f"weights {s}/{c}")

    def reset(self, api: Api) -> bool:
        return self._set(api, 0, headers=False)

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        # The weights sit inside rules the server defaults (group, kind, matches): a test
        # of the rules as written would fail and cost a request; the reset reads first.
        return None

    def _no_stable_ref(self) -> StepFailed:
        return StepFailed(
            f"HTTPRoute {self.route} in namespace {self.target.namespace} has no backendRef"
            f" to service {self.target.service}; add one"
        )

    def _set(self, api: Api, percent: int, *, headers: bool = True) -> bool:
        """Set the HTTPRoute backend weights (and drop the header routes to the canary
        unless ``headers``); returns True when the rules changed."""
        route = self._read(api)
        current = o.items(route, "spec", "rules")
        rules = [r for r in copy.deepcopy(current) if headers or not self._header_twin(r)]
        stable_svc, canary_svc = self.target.service, self.target.canary_service
        found = False
        for rule in rules:
            refs = rule.get("backendRefs") or []
            stable_ref = self._stable_ref(rule)
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
            raise self._no_stable_ref()
        if rules == current:
            return False
        self._patch(api, rules)
        return True

    def _patch(self, api: Api, rules: list[Obj]) -> None:
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
