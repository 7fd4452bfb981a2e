"""The :class:`~b2tui.ports.Cluster` port (and :class:`~b2tui.ports.Workloads`,
:class:`~b2tui.ports.TrafficControl`) over the simulated :class:`World`.

Each call reads the run's clock once and asks the world about that instant; mutations
report through ``changed`` so the CLI can persist a snapshot. Calls take no simulated
time except the API latency a real cluster would have on mutations (a few tens of ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from b2tui.adapters.sandbox.state import LAYOUT_BLUE_GREEN
from b2tui.adapters.sandbox.world import World
from b2tui.config import HttpCheck
from b2tui.ports import (
    CheckResult,
    DeploymentStatus,
    PodInfo,
    Revision,
    RollbackResult,
    RolloutState,
    StepFailed,
    Target,
    TrafficSplit,
)

if TYPE_CHECKING:
    from b2tui.ports.clock import Clock


class SandboxCluster:
    """Kubernetes as simulated by the sandbox.

    Args:
        world: the simulated cluster state (shared with metrics and tools).
        clock: the run's clock; every call is answered for ``clock.now()``.
        changed: called after every mutation.
    """

    def __init__(self, world: World, clock: Clock, changed: Callable[[], None]) -> None:
        self.world = world
        self.clock = clock
        self._changed = changed

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def current_revision(self, env: Target) -> Revision:
        """The revision the environment serves now (the rollback target at run start)."""
        return self.world.current_revision(env.name, self._now())

    async def check_target(self, env: Target) -> list[str]:
        """Problems with the target: none, unless the environment is not simulated."""
        if env.name not in self.world.envs:
            return [f"sandbox has no environment {env.name!r}"]
        problems = []
        rollout = self.world.rollout(env.name, None, self._now())
        if rollout.ready == 0 and rollout.desired > 0:
            problems.append(f"{env.service}: no ready endpoints")
        return problems

    async def deploy(self, env: Target, image: str) -> None:
        """Apply the environment with ``image`` (a rolling update of its Deployment)."""
        self.world.deploy(env.name, image, env.replicas, self._now())
        self._changed()

    async def rollout(self, env: Target, track: str | None = None) -> RolloutState:
        """Rollout progress of the environment's (or one track's) Deployment."""
        return self.world.rollout(env.name, track, self._now())

    async def pods(self, env: Target) -> list[PodInfo]:
        """Pods alive now, every Deployment of the environment."""
        return self.world.pods(env.name, self._now())

    async def set_canary(self, env: Target, image: str, percent: int) -> TrafficSplit:
        """Canary by replica ratio: ``image`` on the canary Deployment, stable scaled to match."""
        split = self.world.set_canary(env.name, image, percent, env.replicas, self._now())
        self._changed()
        return split

    async def promote(self, env: Target, image: str) -> None:
        """Stable runs ``image`` with every replica; the canary is scaled to zero."""
        self.world.promote(env.name, image, env.replicas, self._now())
        self._changed()

    async def stage_colour(self, env: Target, image: str) -> str:
        """Deploy ``image`` to the idle colour and return it."""
        colour = self.world.stage_colour(env.name, image, env.replicas, self._now())
        self._changed()
        return colour

    async def preview(self, env: Target, colour: str) -> str:
        """The preview Service on ``colour``: its service-proxy URL in the sandbox."""
        if env.preview_service == env.service:
            raise StepFailed(
                f"preview Service {env.preview_service} is the live Service: it selects the"
                " live colour; name another Service in preview_service"
            )
        return (
            f"https://sandbox.kube/api/v1/namespaces/{env.namespace}/services/"
            f"{env.preview_service}:http/proxy"
        )

    async def preview_check(self, env: Target, check: HttpCheck) -> CheckResult:
        """The sandbox's new version (idle colour, canary) answers every smoke check."""
        path = check.url.split("://", 1)[-1].partition("/")[2]
        name = env.preview_service or f"{env.service}-canary"
        return CheckResult(True, f"200 in 14 ms ({name}/{path})")

    async def canary_preview(self, env: Target, image: str, percent: int) -> str:
        """The canary's pods up before its first weight; the URL the checks reach it at."""
        self.world.start_canary(env.name, image, percent, env.replicas, self._now())
        self._changed()
        name = env.preview_service or f"{env.service}-canary"
        return f"https://sandbox.kube/api/v1/namespaces/{env.namespace}/services/{name}:http/proxy"

    async def withdraw_canary(self, env: Target) -> bool:
        """The canary scaled to zero."""
        changed = self.world.withdraw_canary(env.name, self._now())
        if changed:
            self._changed()
        return changed

    async def switch_colour(self, env: Target, colour: str) -> TrafficSplit:
        """Point the Service selector at ``colour``."""
        split = self.world.switch_colour(env.name, colour, env.colour_label, self._now())
        self._changed()
        return split

    async def retire_colour(self, env: Target, colour: str) -> None:
        """Scale the old colour to zero."""
        self.world.retire_colour(env.name, colour, self._now())
        self._changed()

    async def rollback(self, env: Target, target: Revision) -> RollbackResult:
        """Restore ``target`` (traffic first); a second call reports ``changed=False``."""
        result = self.world.rollback(env.name, target, self._now())
        if result.changed:
            self._changed()
        return result

    async def scan_logs(
        self, env: Target, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        """Lines per pattern in the logs of the new pods over the last ``since_seconds``."""
        return self.world.log_counts(env.name, patterns, since_seconds, self._now())

    # --- Workloads and TrafficControl (b2tui status / rollback --sandbox) ----------------

    async def workloads(self, env: Target) -> list[DeploymentStatus]:
        """Every Deployment of the environment with its ready pods now."""
        t = self._now()
        state = self.world.env(env.name)
        out = []
        for dep in state.deployments.values():
            ready = sum(
                1
                for rs in dep.replicasets.values()
                for pod in rs.pods
                if pod.alive(t) and self.world.lifecycle.ready_at(state, dep, rs, pod) <= t
            )
            out.append(
                DeploymentStatus(
                    name=dep.name,
                    revision=str(dep.rs.revision),
                    image=dep.image,
                    ready=ready,
                    desired=dep.replicas,
                    track=dep.track,
                )
            )
        return out

    async def revisions(self, env: Target) -> list[Revision]:
        """The idle colour while it has replicas (blue-green), else the serving
        Deployment's older ReplicaSets, newest first."""
        t = self._now()
        state = self.world.env(env.name)
        active = state.active(t)
        if state.layout == LAYOUT_BLUE_GREEN:
            return [
                Revision(d.name, str(d.rs.revision), d.image, d.track, d.replicas, d.current)
                for d in (state.dep(n) for n in state.colours.values())
                if d.name != active.name and d.replicas > 0
            ]
        older = [rs for h, rs in active.replicasets.items() if h != active.current]
        older.sort(key=lambda rs: rs.revision, reverse=True)
        return [
            Revision(active.name, str(rs.revision), rs.image, None, active.replicas, rs.hash)
            for rs in older
        ]

    async def traffic(self, env: Target) -> TrafficSplit:
        """The active colour, or the canary's share of the replicas."""
        t = self._now()
        state = self.world.env(env.name)
        if state.layout == LAYOUT_BLUE_GREEN:
            colour = state.colour_at(t) or "blue"
            return TrafficSplit(100, 100.0, f"{colour} active ({env.colour_label}={colour})")
        c = state.dep(state.canary).replicas if state.canary else 0
        s = state.dep(state.primary).replicas
        achieved = 100.0 * c / (c + s) if c + s else 0.0
        return TrafficSplit(round(achieved), achieved, f"{c}/{c + s} replicas")
