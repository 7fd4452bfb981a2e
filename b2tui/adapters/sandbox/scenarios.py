"""Named fault scenarios of the sandbox: what goes wrong, and what the engine must do.

A scenario is two things: the :class:`Scenario` a person reads (``b2tui demo --scenario``,
the practice-mode menu) and the :class:`Faults` the simulation applies. Unless a fault
says otherwise, only the *new* version misbehaves and only in production: the known-good
image keeps behaving, so a rollback always recovers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """A named situation to rehearse, with the outcome the engine must reach."""

    name: str
    """Identifier used on the command line, e.g. ``prod-error-spike``."""
    description: str
    """One line saying what goes wrong."""
    outcome: str
    """Terminal state a correct engine reaches: ``succeeded``, ``rolled_back``,
    ``aborted`` or ``blocked``."""
    where: str | None
    """Phase in which the outcome happens; None when the run succeeds."""


@dataclass(frozen=True)
class Faults:
    """The misbehaviour a scenario injects into the simulation."""

    error_rate: float | None = None
    """Error ratio of the new version in production (e.g. 0.05)."""
    p95_ms: float | None = None
    """P95 latency of the new version in production."""
    metrics_down: bool = False
    """While any new-version pod exists in production, every production sample is
    unknown with reason "target down" (its pods break the scrape target)."""
    staging_crash: bool = False
    """Staging pods of the new image crash-loop and log exceptions."""
    late_error_rate: float | None = None
    """Error ratio of the new version once ``late_after`` seconds passed since it got
    100 % of production traffic."""
    late_after: float = 720.0
    """Seconds after full traffic at which the late regression starts (±30 s per seed)."""
    failing_tests: bool = False
    """The ``test`` command exits 1 with failing tests."""
    flap_error_rate: float | None = None
    """Error ratio of the new version in exactly one of every ``flap_period`` poll buckets."""
    flap_period: int = 7


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "happy", "every gate stays green; the release goes all the way", "succeeded", None
        ),
        Scenario(
            "prod-error-spike",
            "the new version fails ~5 % of requests in production",
            "rolled_back",
            "production",
        ),
        Scenario(
            "latency-regression",
            "the new version answers with a P95 of ~320 ms in production",
            "rolled_back",
            "production",
        ),
        Scenario(
            "metrics-outage",
            "production metrics go dark (target down) as soon as the new version runs",
            "rolled_back",
            "production",
        ),
        Scenario(
            "staging-crashloop",
            "staging pods of the new image crash-loop with exceptions; the rollout never ends",
            "aborted",
            "staging",
        ),
        Scenario(
            "late-regression",
            "healthy until ~12 min after full traffic, then ~3 % errors",
            "rolled_back",
            "monitoring",
        ),
        Scenario(
            "failing-tests",
            "`dotnet test` fails two tests during validation",
            "blocked",
            "validate",
        ),
        Scenario(
            "flapping",
            "2 % errors in one of every seven 5-second buckets, never two in a row",
            "succeeded",
            None,
        ),
    )
}
"""The scenarios in the order the menu shows them."""


FAULTS: dict[str, Faults] = {
    "happy": Faults(),
    "prod-error-spike": Faults(error_rate=0.05),
    "latency-regression": Faults(p95_ms=320.0),
    "metrics-outage": Faults(metrics_down=True),
    "staging-crashloop": Faults(staging_crash=True),
    "late-regression": Faults(late_error_rate=0.03),
    "failing-tests": Faults(failing_tests=True),
    "flapping": Faults(flap_error_rate=0.02),
}


def scenario(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        ValueError: one line naming the known scenarios.
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ValueError(f"unknown sandbox scenario {name!r}; choose one of: {known}") from None
