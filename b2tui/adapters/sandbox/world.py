"""The simulated cluster: Deployments, ReplicaSets, pods and Services over clock time.

:class:`World` is what the sandbox's ports ask: it builds every environment of the
settings, answers reads for a time ``t`` and applies the workflow's mutations (rolling
update, canary split, promotion, blue-green colours, rollback) at a time ``now``. The
state it mutates lives in :mod:`~b2tui.adapters.sandbox.state`, what time alone does to
pods in :mod:`~b2tui.adapters.sandbox.pods`, and the Deployment controller in
:mod:`~b2tui.adapters.sandbox.replicasets`; a snapshot taken after any mutation
(:meth:`World.to_dict`) resumes exactly.
"""

from __future__ import annotations

from typing import Any

from b2tui.adapters.sandbox.noise import image_digest, template_hash, unit
from b2tui.adapters.sandbox.pods import Lifecycle, alive
from b2tui.adapters.sandbox.replicasets import reconcile
from b2tui.adapters.sandbox.scenarios import Faults
from b2tui.adapters.sandbox.state import (
    COLOURS,
    LAYOUT_BLUE_GREEN,
    LAYOUT_CANARY,
    LAYOUT_PLAIN,
    Deployment,
    EnvState,
    PodRecord,
    ReplicaSet,
)
from b2tui.config import Settings
from b2tui.domain.canary import ReplicaSplit, replica_split
from b2tui.domain.phases import Strategy
from b2tui.ports import (
    PodInfo,
    Revision,
    RollbackResult,
    RolloutState,
    SourceError,
    StepFailed,
    TrafficSplit,
)

KNOWN_GOOD_SHA = "9f3c2a1"
"""Commit the sandbox's environments run when a run starts."""


class World:
    """The simulated cluster of every environment in the settings.

    Args:
        seed: noise seed (pod names, readiness delays, nodes).
        scenario: scenario name (only recorded; ``faults`` carries the behaviour).
        faults: what misbehaves.
        settings: environments to create (``production`` gets ``strategy``'s layout).
        strategy: production layout: canary (stable + canary Deployments), blue-green
            (``-blue``/``-green``), or direct (one Deployment).
        now: epoch seconds at which the world is built; existing pods are days old.
    """

    def __init__(
        self,
        seed: int,
        scenario: str,
        faults: Faults,
        settings: Settings,
        strategy: Strategy,
        now: float,
    ) -> None:
        self.seed = seed
        self.scenario = scenario
        self.faults = faults
        self.strategy = strategy
        self.envs: dict[str, EnvState] = {}
        self.images: dict[str, dict[str, str | None]] = {}
        """Built images by tag: ``{"id": sha256:…, "digest": sha256:… | None}``."""
        self.lifecycle = Lifecycle(seed, faults)
        """When pods turn Ready, crash and log (shared with the cluster port)."""
        repo = settings.service.image
        for name, env in settings.environments.items():
            production = name == "production"
            short = "prod" if production else name
            image = f"{repo}:{short}-{KNOWN_GOOD_SHA}"
            history = tuple(f"{repo}:{short}-{sha}" for sha in ("2b7e0d4", "c41a9e8"))
            replicas = env.replicas or (10 if production else 2)
            if production and strategy is Strategy.BLUE_GREEN:
                layout = LAYOUT_BLUE_GREEN
            elif production and strategy is Strategy.CANARY:
                layout = LAYOUT_CANARY
            else:
                layout = LAYOUT_PLAIN
            self.envs[name] = self._initial_env(
                env.name,
                env.deployment,
                env.service,
                layout,
                (*history, image),
                replicas,
                env.context,
                now,
            )

    # --- building ------------------------------------------------------------------------

    def _initial_env(
        self,
        name: str,
        deployment: str,
        service: str,
        layout: str,
        images: tuple[str, ...],
        replicas: int,
        context: str | None,
        now: float,
    ) -> EnvState:
        *older, image = images
        first_rev = 7 if name == "production" else 12
        # The running version went out a few days ago; two older templates sit in the
        # revision history as ``kubectl rollout history`` would show them.
        age = 3 * 86400 + 4 * 3600 + unit(self.seed, name, "age") * 7200

        def make(dep_name: str, track: str, count: int) -> Deployment:
            dep = Deployment(dep_name, track, count, "", first_rev, now - age)
            for i, old in enumerate(older):
                h = template_hash(dep_name, old)
                since = now - age - (len(older) - i) * 5 * 86400
                dep.replicasets[h] = ReplicaSet(h, old, first_rev - len(older) + i, since)
            h = template_hash(dep_name, image)
            rs = ReplicaSet(h, image, first_rev, now - age)
            for _ in range(count):
                created = now - age + unit(self.seed, dep_name, rs.next_seq, "born") * 90
                rs.pods.append(PodRecord(rs.next_seq, created))
                rs.next_seq += 1
            dep.replicasets[h] = rs
            dep.current = h
            return dep

        state = EnvState(
            name, layout, service, image, {}, deployment, node_prefix=context or "sandbox"
        )
        if layout == LAYOUT_BLUE_GREEN:
            for colour in COLOURS:
                dep = make(f"{deployment}-{colour}", colour, replicas if colour == "blue" else 0)
                state.deployments[dep.name] = dep
                state.colours[colour] = dep.name
            state.primary = state.colours["blue"]
            state.selector = [(now - age, "blue")]
        else:
            track = "stable" if name == "production" else ""
            state.deployments[deployment] = make(deployment, track, replicas)
            if layout == LAYOUT_CANARY:
                canary = make(f"{deployment}-canary", "canary", 0)
                state.deployments[canary.name] = canary
                state.canary = canary.name
        return state

    # --- lookup --------------------------------------------------------------------------

    def env(self, name: str) -> EnvState:
        """The environment ``name``. Raises SourceError naming the known ones."""
        try:
            return self.envs[name]
        except KeyError:
            known = ", ".join(self.envs) or "none"
            raise SourceError(
                f"sandbox: no environment {name!r} (known: {known}); add it to the settings"
            ) from None

    def track_deployment(self, env: EnvState, track: str | None, t: float) -> Deployment:
        """The Deployment behind ``track`` (None: the active one)."""
        if track is None:
            return env.active(t)
        if track == "stable" and env.layout != LAYOUT_BLUE_GREEN:
            return env.dep(env.primary)
        if track == "canary" and env.canary:
            return env.dep(env.canary)
        if track in env.colours:
            return env.dep(env.colours[track])
        tracks = ["stable", "canary"] if env.canary else list(env.colours) or ["stable"]
        raise SourceError(
            f"sandbox {env.name}: no track {track!r} with strategy {self.strategy.value}"
            f" (tracks: {', '.join(tracks)})"
        )

    # --- reads at a time t ---------------------------------------------------------------

    def pods(self, name: str, t: float) -> list[PodInfo]:
        """Pods of the environment alive at ``t`` (every Deployment, oldest template first)."""
        env = self.env(name)
        return [self.lifecycle.info(env, dep, rs, pod, t) for dep, rs, pod in alive(env, t)]

    def rollout(self, name: str, track: str | None, t: float) -> RolloutState:
        """Rollout progress of a Deployment at ``t``, judged as ``kubectl rollout status``."""
        env = self.env(name)
        return self.lifecycle.rollout(env, self.track_deployment(env, track, t), t)

    def serving(self, name: str, t: float) -> dict[tuple[str, str], int]:
        """Ready pods behind the Service at ``t``, counted per (track, image)."""
        env = self.env(name)
        if env.layout == LAYOUT_BLUE_GREEN:
            return self.lifecycle.serving(env, [env.active(t)], t)
        return self.lifecycle.serving(env, env.deployments.values(), t)

    def new_version_present(self, name: str, t: float) -> bool:
        """True when a pod of another image than the known-good one exists at ``t``."""
        env = self.env(name)
        return any(rs.image != env.baseline_image for _, rs, _ in alive(env, t))

    def current_revision(self, name: str, t: float) -> Revision:
        """What the environment's active Deployment runs at ``t``."""
        env = self.env(name)
        dep = env.active(t)
        colour = dep.track if env.layout == LAYOUT_BLUE_GREEN else None
        return Revision(
            dep.name,
            str(dep.rs.revision),
            dep.image,
            colour,
            dep.replicas,
            dep.current,
            image_digest(dep.image),
        )

    def log_counts(
        self, name: str, patterns: tuple[str, ...], since: float, t: float
    ) -> dict[str, int]:
        """Lines matching each pattern in the logs of the new pods over ``[t - since, t]``."""
        return self.lifecycle.log_counts(self.env(name), patterns, since, t)

    # --- mutations at a time now ---------------------------------------------------------

    def deploy(self, name: str, image: str, replicas: int | None, now: float) -> None:
        """Set the image of the active Deployment (a rolling update)."""
        env = self.env(name)
        dep = env.active(now)
        reconcile(self.lifecycle, env, dep, now, image=image, replicas=replicas or dep.replicas)
        env.settle(now)

    def _canary_layout(self, env: EnvState, what: str) -> tuple[Deployment, Deployment]:
        if env.canary is None:
            raise StepFailed(
                f"sandbox {env.name}: {what} needs stable and canary Deployments, but the"
                f" sandbox was built with strategy {self.strategy.value};"
                " restart the demo with --strategy canary"
            )
        return env.dep(env.primary), env.dep(env.canary)

    def set_canary(
        self, name: str, image: str, percent: int, total: int | None, now: float
    ) -> TrafficSplit:
        """Run ``image`` as canary with the replica share nearest to ``percent``."""
        env = self.env(name)
        stable, canary = self._canary_layout(env, "a canary")
        n = total or (stable.replicas + canary.replicas)
        split: ReplicaSplit = replica_split(percent, n)
        if split.canary >= canary.replicas:
            pace = reconcile(self.lifecycle, env, canary, now, image=image, replicas=split.canary)
            reconcile(self.lifecycle, env, stable, now, replicas=split.stable, pace=pace)
        else:
            pace = reconcile(self.lifecycle, env, stable, now, replicas=split.stable)
            reconcile(
                self.lifecycle, env, canary, now, image=image, replicas=split.canary, pace=pace
            )
        env.settle(now)
        return TrafficSplit(percent, split.achieved_percent, f"{split.canary}/{n} replicas")

    def start_canary(
        self, name: str, image: str, percent: int, total: int | None, now: float
    ) -> None:
        """``image`` on the canary at ``percent``'s replicas, stable untouched (its smoke
        checks before the first weight)."""
        env = self.env(name)
        stable, canary = self._canary_layout(env, "a canary")
        n = total or (stable.replicas + canary.replicas)
        want = max(replica_split(percent, n).canary, canary.replicas)
        reconcile(self.lifecycle, env, canary, now, image=image, replicas=want)
        env.settle(now)

    def withdraw_canary(self, name: str, now: float) -> bool:
        """The canary scaled to zero; True when it ran."""
        env = self.env(name)
        _, canary = self._canary_layout(env, "withdrawing the canary")
        if not canary.replicas:
            return False
        reconcile(self.lifecycle, env, canary, now, replicas=0, immediate=True)
        env.settle(now)
        return True

    def promote(self, name: str, image: str, total: int | None, now: float) -> None:
        """Stable takes ``image`` with every replica; canary pods leave as stable's are Ready."""
        env = self.env(name)
        stable, canary = self._canary_layout(env, "promote")
        n = total or (stable.replicas + canary.replicas)
        pace = reconcile(self.lifecycle, env, stable, now, image=image, replicas=n)
        reconcile(self.lifecycle, env, canary, now, replicas=0, pace=pace)
        env.settle(now)

    def _blue_green(self, env: EnvState, what: str) -> None:
        if env.layout != LAYOUT_BLUE_GREEN:
            raise StepFailed(
                f"sandbox {env.name}: {what} needs blue and green Deployments, but the sandbox"
                f" was built with strategy {self.strategy.value};"
                " restart the demo with --strategy blue-green"
            )

    def stage_colour(self, name: str, image: str, replicas: int | None, now: float) -> str:
        """Deploy ``image`` to the idle colour; return the colour."""
        env = self.env(name)
        self._blue_green(env, "staging a colour")
        active = env.active(now)
        idle = next(c for c in COLOURS if env.colours[c] != active.name)
        dep = env.dep(env.colours[idle])
        reconcile(self.lifecycle, env, dep, now, image=image, replicas=replicas or active.replicas)
        env.settle(now)
        return idle

    def switch_colour(self, name: str, colour: str, label: str, now: float) -> TrafficSplit:
        """Point the Service selector at ``colour``."""
        env = self.env(name)
        self._blue_green(env, "switching colour")
        if colour not in env.colours:
            raise StepFailed(f"sandbox {name}: no colour {colour!r} (blue or green)")
        if env.colour_at(now) != colour:
            env.selector.append((now, colour))
        env.settle(now)
        return TrafficSplit(100, 100.0, f"service {env.service} selector {label}={colour}")

    def retire_colour(self, name: str, colour: str, now: float) -> None:
        """Scale ``colour`` to zero; refused while the Service selects it."""
        env = self.env(name)
        self._blue_green(env, "retiring a colour")
        if colour not in env.colours:
            raise StepFailed(f"sandbox {name}: no colour {colour!r} (blue or green)")
        if env.colour_at(now) == colour:
            raise StepFailed(
                f"sandbox {name}: refusing to scale down {colour}: the Service still selects it"
            )
        reconcile(
            self.lifecycle, env, env.dep(env.colours[colour]), now, replicas=0, immediate=True
        )
        env.settle(now)

    def rollback(self, name: str, target: Revision, now: float) -> RollbackResult:
        """Restore ``target``: traffic first (selector, canary gone), then its replicas.

        Idempotent: when the environment already runs the target, nothing changes and
        ``changed`` is False.
        """
        env = self.env(name)
        steps: list[str] = []
        if env.layout == LAYOUT_BLUE_GREEN:
            colour = target.colour or COLOURS[0]
            if colour not in env.colours:
                raise StepFailed(f"sandbox {name}: rollback target colour {colour!r} unknown")
            dep = env.dep(env.colours[colour])
            other = env.dep(env.colours[next(c for c in COLOURS if c != colour)])
            if env.colour_at(now) != colour:
                env.selector.append((now, colour))
                steps.append(f"selector → {colour}")
            if other.replicas:
                steps.append(f"{other.name} scaled {other.replicas} → 0")
                reconcile(self.lifecycle, env, other, now, replicas=0, immediate=True)
        else:
            dep = (
                env.dep(target.deployment)
                if target.deployment in env.deployments
                else env.dep(env.primary)
            )
            if env.canary and env.dep(env.canary).replicas:
                canary = env.dep(env.canary)
                steps.append(f"{canary.name} scaled {canary.replicas} → 0")
                reconcile(self.lifecycle, env, canary, now, replicas=0, immediate=True)
        if dep.image != target.image or dep.replicas != target.replicas:
            before = f"rev {dep.rs.revision}, {dep.replicas} replicas"
            reconcile(self.lifecycle, env, dep, now, image=target.image, replicas=target.replicas)
            steps.append(
                f"{dep.name} {before} → rev {dep.rs.revision} ({target.image.rsplit('/', 1)[-1]},"
                f" {dep.replicas} replicas)"
            )
        if not steps:
            return RollbackResult(
                False,
                f"already on the target: {dep.name} rev {dep.rs.revision}"
                f" ({dep.image.rsplit('/', 1)[-1]}, {dep.replicas} replicas)",
            )
        env.settle(now)
        return RollbackResult(True, "; ".join(steps))

    # --- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (everything a resumed sandbox needs)."""
        return {
            "envs": [e.to_dict() for e in self.envs.values()],
            "images": {k: dict(v) for k, v in self.images.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace the state with ``state`` (from :meth:`to_dict`)."""
        envs = [EnvState.from_dict(e) for e in state["envs"]]
        self.envs = {e.name: e for e in envs}
        self.images = {k: dict(v) for k, v in state.get("images", {}).items()}
        self.lifecycle.forget()
