"""The ports the engine drives a run through. Adapters implement them.

Every method of the run's :class:`Ports` is ``async``: adapters with blocking clients
(kubernetes, docker, …) run them in threads (``asyncio.to_thread``) so the event loop
never blocks. Failures are raised as :class:`SourceError` (or :class:`StepFailed` for a
step of the workflow) with a message fit for one line on the screen — never a secret.

- :mod:`~b2tui.ports.errors`: :class:`SourceError`, :class:`StepFailed`;
- :mod:`~b2tui.ports.cluster`: :class:`Cluster`, the capability ports :class:`Workloads`
  and :class:`TrafficControl` of a :class:`Target`, and what they return;
- :mod:`~b2tui.ports.metrics`: :class:`Metrics`;
- :mod:`~b2tui.ports.tools`: :class:`Images`, :class:`Commands`, :class:`Checks`,
  :class:`Notifier`;
- :mod:`~b2tui.ports.store`: :class:`Store` and its records;
- :mod:`~b2tui.ports.inbox`: :class:`IntentInbox` (intents from another host).
"""

from __future__ import annotations

from dataclasses import dataclass

from b2tui.ports.cluster import (
    Cluster,
    DeploymentStatus,
    PodInfo,
    PodPhase,
    Revision,
    RollbackResult,
    RolloutState,
    Target,
    TrafficControl,
    TrafficSplit,
    Workloads,
)
from b2tui.ports.errors import SourceError, StepFailed
from b2tui.ports.inbox import Intent, IntentInbox
from b2tui.ports.metrics import Metrics, Series
from b2tui.ports.store import (
    AuditEntry,
    Claim,
    Lease,
    LeaseKeeper,
    RunRecord,
    Store,
    StoreError,
    StoreWriteFailed,
)
from b2tui.ports.tools import (
    CheckResult,
    Checks,
    CommandResult,
    Commands,
    Images,
    LineSink,
    Notification,
    Notifier,
)


@dataclass
class Ports:
    """Everything a run needs from the outside world."""

    cluster: Cluster
    metrics: Metrics
    images: Images
    commands: Commands
    checks: Checks
    notifier: Notifier


__all__ = [
    "AuditEntry",
    "CheckResult",
    "Checks",
    "Claim",
    "Cluster",
    "CommandResult",
    "Commands",
    "DeploymentStatus",
    "Images",
    "Intent",
    "IntentInbox",
    "Lease",
    "LeaseKeeper",
    "LineSink",
    "Metrics",
    "Notification",
    "Notifier",
    "PodInfo",
    "PodPhase",
    "Ports",
    "Revision",
    "RollbackResult",
    "RolloutState",
    "RunRecord",
    "Series",
    "SourceError",
    "StepFailed",
    "Store",
    "StoreError",
    "StoreWriteFailed",
    "Target",
    "TrafficControl",
    "TrafficSplit",
    "Workloads",
]
