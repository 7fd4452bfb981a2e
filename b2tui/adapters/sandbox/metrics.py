"""The :class:`~b2tui.ports.Metrics` port over the simulated cluster.

Traffic goes to the Ready pods behind the Service, evenly: the canary's share is its
share of Ready pods (the achieved percentage once its rollout completed). Each (track,
image) group of pods gets a healthy or faulty profile; a sample of one track, or of the
whole service (track None), is the traffic-weighted mix of the groups it covers. The
P95 of a mix is the 95th percentile of the mixed latency distributions (each group
log-normal), not an average: a 5 % canary at 320 ms barely moves the service's P95.

Noise comes from a hash of (seed, scenario, environment, track, image, gate, time
bucket), the bucket being the poll interval, so a resumed run — or a second process
watching — reads the same values at the same instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from b2tui.adapters.sandbox.noise import unit
from b2tui.adapters.sandbox.world import World
from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain.gates import Gate, Reading
from b2tui.ports import Series

if TYPE_CHECKING:
    from b2tui.ports.clock import Clock

PRODUCTION_RPS = 60.0
"""Total production traffic, requests per second."""
STAGING_RPS = 5.0
"""Synthetic smoke traffic on staging (and any other non-production environment)."""
WINDOW = 60.0
"""Seconds of the simulated rate window (the sample size of a reading is rate × this)."""
SIGMA = 0.35
"""Spread of the log-normal latency distribution of one group of pods."""
_Z95 = 1.6448536269514722

_EXTRA: dict[str, tuple[float, float]] = {
    # name → (low, high) of a healthy value; the sandbox's guess at typical queries.
    Gate.DB_CONNECTIONS: (14.0, 30.0),
    Gate.MEMORY: (300e6, 380e6),
    Gate.CPU: (0.15, 0.45),
}


def mixture_p95(parts: list[tuple[float, float]]) -> float:
    """95th percentile of a mix of log-normal latencies given as (weight, p95 ms)."""
    total = sum(w for w, _ in parts)
    if len(parts) == 1 or total <= 0:
        return parts[0][1]
    mus = [(w / total, math.log(p) - _Z95 * SIGMA) for w, p in parts]

    def cdf(x: float) -> float:
        return sum(w * 0.5 * (1 + math.erf((x - mu) / (SIGMA * math.sqrt(2)))) for w, mu in mus)

    lo = min(mu for _, mu in mus)
    hi = max(math.log(p) for _, p in parts) + SIGMA
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) < 0.95:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


class SandboxMetrics:
    """Prometheus as simulated by the sandbox.

    Args:
        world: the simulated cluster (who serves, which image, since when).
        clock: the run's clock.
        settings: gate poll interval (the noise bucket) and extra gates.
    """

    def __init__(self, world: World, clock: Clock, settings: Settings) -> None:
        self.world = world
        self.clock = clock
        self.bucket = settings.gates.poll if settings.gates.poll > 0 else 5.0
        self.extra = tuple(q.name for q in settings.prometheus.extra)
        f = world.faults
        # The late regression starts ~12 min after full traffic, ±30 s per seed.
        self.late_after = f.late_after + 60.0 * (unit(world.seed, "late") - 0.5)
        self.flap_offset = int(unit(world.seed, "flap") * f.flap_period)

    @property
    def gates(self) -> tuple[str, ...]:
        """Names of the readings every sample carries."""
        return (Gate.ERROR_RATE, Gate.P95_MS, Gate.REQUEST_RATE, *self.extra)

    async def sample(self, env: EnvironmentSettings, track: str | None) -> dict[str, Reading]:
        """One reading per gate for ``track`` (None: the whole service) now."""
        return self.sample_at(env.name, track, self.clock.now().timestamp())

    async def history(
        self, env: EnvironmentSettings, track: str | None, seconds: float, step: float
    ) -> dict[str, Series]:
        """Per gate, the readings every ``step`` seconds over the last ``seconds``."""
        now = self.clock.now().timestamp()
        step = max(step, 1.0)
        n = int(seconds // step)
        times = [now - (n - i) * step for i in range(n + 1)]
        out = {g: Series(g) for g in self.gates}
        for t in times:
            readings = self.sample_at(env.name, track, t)
            for g, r in readings.items():
                out[g].points.append((t, r.value))
        return out

    def is_flap_bucket(self, bucket: int) -> bool:
        """True for the one bucket in every ``flap_period`` in which flapping misbehaves."""
        return (bucket + self.flap_offset) % self.world.faults.flap_period == 0

    def sample_at(self, name: str, track: str | None, t: float) -> dict[str, Reading]:
        """The readings of ``track`` in environment ``name`` at epoch ``t``."""
        w = self.world
        env = w.env(name)
        production = name == "production"
        if production and w.faults.metrics_down and w.new_version_present(name, t):
            return {g: Reading(g, None, "target down") for g in self.gates}
        bucket = int(t // self.bucket)
        serving = w.serving(name, t)
        pods = sum(serving.values())
        noise = unit(w.seed, w.scenario, name, "traffic", bucket)
        rps = (PRODUCTION_RPS if production else STAGING_RPS) * (0.95 + 0.1 * noise)
        groups = [(k, n) for k, n in serving.items() if track is None or k[0] == track]
        if not groups or pods == 0:
            out = {g: Reading(g, None, "no traffic", requests=0) for g in self.gates}
            out[Gate.REQUEST_RATE] = Reading(Gate.REQUEST_RATE, 0.0, requests=0)
            return out
        rate = 0.0
        errors = 0.0
        parts: list[tuple[float, float]] = []
        for (trk, image), n in groups:
            r = rps * n / pods

            def u(gate: str, trk: str = trk, image: str = image) -> float:
                return unit(w.seed, w.scenario, name, trk, image, gate, bucket)

            err = 0.0001 + 0.0005 * u("error_rate")
            p95 = 110.0 + 50.0 * u("p95_ms")
            if production and image != env.baseline_image:
                err, p95 = self._faulty(env.full_at, t, bucket, err, p95, u)
            rate += r
            errors += r * err
            parts.append((r, p95))
        # The sample size of a one-minute rate window, as Prometheus' [1m] would see.
        n = round(rate * WINDOW)
        out = {
            Gate.ERROR_RATE: Reading(Gate.ERROR_RATE, round(errors / rate, 7), requests=n),
            Gate.P95_MS: Reading(Gate.P95_MS, round(mixture_p95(parts), 1), requests=n),
            Gate.REQUEST_RATE: Reading(Gate.REQUEST_RATE, round(rate, 2), requests=n),
        }
        for g in self.extra:
            span = _EXTRA.get(g)
            if span is None:
                out[g] = Reading(g, None, "not simulated by the sandbox")
            else:
                lo, hi = span
                v = lo + (hi - lo) * unit(w.seed, w.scenario, name, track, g, bucket)
                out[g] = Reading(g, round(v, 3))
        return out

    def _faulty(
        self,
        full_at: float | None,
        t: float,
        bucket: int,
        err: float,
        p95: float,
        u: Callable[[str], float],
    ) -> tuple[float, float]:
        f = self.world.faults
        if f.error_rate is not None:
            err = f.error_rate * (0.85 + 0.3 * u("error_rate"))
        if f.p95_ms is not None:
            p95 = f.p95_ms * (0.93 + 0.14 * u("p95_ms"))
        if f.late_error_rate is not None and full_at is not None and t >= full_at + self.late_after:
            err = f.late_error_rate * (0.85 + 0.3 * u("error_rate"))
        if f.flap_error_rate is not None and self.is_flap_bucket(bucket):
            err = f.flap_error_rate * (0.9 + 0.2 * u("error_rate"))
        return err, p95
