"""Phases of a run, its terminal outcomes and the traffic strategies."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A step of the deployment workflow, in order."""

    READINESS = "readiness"
    VALIDATE = "validate"
    STAGING = "staging"
    SMOKE = "smoke"
    PRODUCTION = "production"
    MONITORING = "monitoring"

    @property
    def position(self) -> int:
        """0 for readiness … 5 for monitoring."""
        return PHASE_ORDER.index(self)

    def next(self) -> Phase | None:
        """The phase after this one, or None after monitoring."""
        i = self.position + 1
        return PHASE_ORDER[i] if i < len(PHASE_ORDER) else None


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)


class Outcome(StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    BLOCKED = "blocked"

    @property
    def exit_code(self) -> int:
        """Process exit status for this outcome (the CLI contract)."""
        return EXIT_CODES[self]


EXIT_CODES: dict[Outcome, int] = {
    Outcome.SUCCEEDED: 0,
    Outcome.ROLLED_BACK: 3,
    Outcome.BLOCKED: 4,
    Outcome.ABORTED: 5,
}

EXIT_USAGE = 2
"""Exit status for bad usage or bad configuration."""


class Strategy(StrEnum):
    """How production receives the new version."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    DIRECT = "direct"


class Traffic(StrEnum):
    """How a canary's share of traffic is enforced."""

    REPLICAS = "replicas"
    NGINX = "nginx"
    GATEWAY = "gateway"
