"""What the adapter acts on for one environment, built once from its settings.

The modules of this package take a :class:`KubeTarget` (names, labels, limits) rather
than the whole environment record: a router or a strategy module reads only what it
uses, and adding a config key does not touch them.
"""

from __future__ import annotations

from dataclasses import dataclass

from b2tui.config import EnvironmentSettings
from b2tui.domain.phases import Strategy, Traffic


@dataclass(frozen=True)
class KubeTarget:
    """One environment's workloads as the Kubernetes adapter names them."""

    context: str | None
    """Kube context (None: the kubeconfig's current one)."""
    namespace: str
    deployment: str
    """The stable Deployment, and the base name of ``-canary`` / ``-blue`` / ``-green``."""
    service: str
    track_label: str = "track"
    colour_label: str = "color"
    strategy: Strategy = Strategy.CANARY
    traffic: Traffic = Traffic.REPLICAS
    ingress: str | None = None
    route: str | None = None
    replicas: int | None = None
    """Replica total for the canary math; None reads it from the stable Deployment."""
    manifests: tuple[str, ...] = ()
    rollout_timeout: float = 600.0

    @classmethod
    def of(cls, env: EnvironmentSettings) -> KubeTarget:
        return cls(
            context=env.context,
            namespace=env.namespace,
            deployment=env.deployment,
            service=env.service,
            track_label=env.track_label,
            colour_label=env.colour_label,
            strategy=env.strategy,
            traffic=env.traffic,
            ingress=env.ingress,
            route=env.route,
            replicas=env.replicas,
            manifests=env.manifests,
            rollout_timeout=env.rollout_timeout,
        )

    @property
    def canary(self) -> str:
        """The canary Deployment."""
        return f"{self.deployment}-canary"

    @property
    def canary_service(self) -> str:
        return f"{self.service}-canary"

    def colour_deployment(self, colour: str) -> str:
        return f"{self.deployment}-{colour}"

    def track_deployment(self, track: str | None) -> str:
        """The Deployment of a track: stable is ``deployment``, others ``deployment-<track>``."""
        if track in (None, "", "stable"):
            return self.deployment
        return f"{self.deployment}-{track}"
