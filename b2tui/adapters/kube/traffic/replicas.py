"""``traffic = "replicas"``: the split is the ratio of canary to stable pods behind one
Service (whose selector must not include the track label). 5 % of 4 replicas is 1/4."""

from __future__ import annotations

from dataclasses import dataclass

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.rollback import FirstWrite, canary_scale_to_zero
from b2tui.domain.canary import ReplicaSplit
from b2tui.ports import StepFailed, Target, TrafficSplit


@dataclass(frozen=True)
class ReplicaRouter:
    """Traffic by replica count."""

    target: Target

    def check(self, api: Api) -> list[str]:
        return []

    def set_weight(self, api: Api, percent: int, split: ReplicaSplit) -> TrafficSplit:
        # Canary up first (done by the caller), stable down after: capacity never dips.
        api.scale(self.target.namespace, self.target.deployment, split.stable)
        c, s = split.canary, split.stable
        achieved = 100.0 * c / (c + s) if c + s else 0.0
        return TrafficSplit(percent, achieved, f"{c}/{c + s} replicas")

    def route_header(self, api: Api) -> str:
        # One Service in front of stable and canary pods alike: no router to ask.
        raise StepFailed(
            f'{self.target.name}: traffic = "replicas" cannot route canary_header to the'
            ' canary: use traffic = "nginx" or "gateway", or drop canary_header and name a'
            " preview_service"
        )

    def verify(self, api: Api) -> TrafficSplit:
        ns = self.target.namespace
        stable = api.maybe_deployment(ns, self.target.deployment)
        canary = api.maybe_deployment(ns, self.target.canary)
        s = o.replicas(stable) if stable else 0
        c = o.replicas(canary) if canary else 0
        achieved = 100.0 * c / (s + c) if s + c else 0.0
        return TrafficSplit(round(achieved), achieved, f"{c}/{s + c} replicas")

    def reset(self, api: Api) -> bool:
        # The canary's pods are the canary's traffic: scaling it down (the caller's part)
        # is the whole reset.
        return False

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        # The canary's pods are its traffic: scaling them to 0 is the reset.
        return canary_scale_to_zero(self.target, split.canary) if split.canary else None
