"""The metrics port: gate readings and sparkline history (Prometheus or the sandbox)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from b2tui.config import EnvironmentSettings
from b2tui.domain.gates import Reading


@dataclass(frozen=True)
class Series:
    """Points for a sparkline: (epoch seconds, value or None for a gap)."""

    name: str
    points: list[tuple[float, float | None]] = field(default_factory=list)


@runtime_checkable
class Metrics(Protocol):
    """Prometheus (or the sandbox). Gate names: ``error_rate`` (ratio), ``p95_ms``,
    ``request_rate`` (req/s), and any configured extra gates."""

    async def sample(self, env: EnvironmentSettings, track: str | None) -> dict[str, Reading]:
        """One reading per gate for ``track`` (``canary``/``stable``) or the whole service.

        Missing data is a :class:`~b2tui.domain.gates.Reading` with ``value=None`` and a
        reason; a source that cannot be reached raises :class:`~b2tui.ports.SourceError`.
        """
        ...

    async def history(
        self, env: EnvironmentSettings, track: str | None, seconds: float, step: float
    ) -> dict[str, Series]:
        """Range query per gate over the last ``seconds`` for sparklines."""
        ...
