"""Built-in settings of the embedded sandbox (``b2tui demo``): no file needed."""

from __future__ import annotations

import os
from dataclasses import replace

from b2tui.config.schema import (
    EnvironmentSettings,
    GateSettings,
    HttpCheck,
    MonitoringCheck,
    MonitoringSettings,
    NotifySettings,
    ServiceSettings,
    Settings,
)

SANDBOX_RULES: dict[str, dict[str, str]] = {
    "absolute": {},
    "relative": {"rule": "relative"},
    "mann-whitney": {"rule": "relative", "p95_rule": "mann-whitney"},
}
"""``b2tui demo --rule``: how the canary is judged (the scenarios' baseline variants)."""


REPLICAS_RANGE = (1, 100_000)
"""Production pod counts the sandbox accepts (``b2tui demo --replicas``)."""


def _bench_replicas(default: int = 10) -> int:
    """Production's pod count in the sandbox: 10, or ``B2TUI_BENCH_REPLICAS`` (a
    measurement hook for ``make bench``: idle cost and memory with 200 or 5,000 pods).
    Anything but a whole number in :data:`REPLICAS_RANGE` keeps the default."""
    raw = os.environ.get("B2TUI_BENCH_REPLICAS", "")
    lo, hi = REPLICAS_RANGE
    return int(raw) if raw.isdigit() and lo <= int(raw) <= hi else default


def sandbox_settings(rule: str = "absolute", replicas: int | None = None) -> Settings:
    """Built-in settings for the embedded sandbox (no file needed).

    Args:
        rule: A key of :data:`SANDBOX_RULES`: the canary against absolute limits, or
            against stable (relative; Mann–Whitney for latency).
        replicas: Production's pod count (``b2tui demo --replicas``); None: 10, or the
            bench hook's count.
    """
    production = EnvironmentSettings(
        name="production",
        context="sandbox",
        namespace="b2connect",
        deployment="b2connect",
        service="b2connect",
        selector='namespace="b2connect",app="b2connect"',
        replicas=replicas or _bench_replicas(),
        preview_service="b2connect-preview",
    )
    # Staging is the same deployment in the same sandbox namespace, applied from its own
    # manifest and smaller.
    staging = replace(
        production,
        name="staging",
        manifests=("deploy/staging.yaml",),
        replicas=2,
        preview_service=None,
    )
    return Settings(
        gates=GateSettings(**SANDBOX_RULES[rule]),  # type: ignore[arg-type]
        service=ServiceSettings(name="b2connect", image="registry.sandbox/b2connect", repo="."),
        environments={"staging": staging, "production": production},
        notify=NotifySettings(changelog=None),
        # The workflow's monitoring checks, signed by autopilot in the demo.
        monitoring=MonitoringSettings(
            manual=(
                MonitoringCheck("Spot check key features"),
                MonitoringCheck("Review error logs"),
                MonitoringCheck("Customer-facing features verified", "settle", "@qa-engineer"),
            ),
            http=(HttpCheck(url="https://b2connect.sandbox/healthz"),),
        ),
    )
