"""The simulated cluster's state: what a mutation changes, and its JSON form.

The state holds only what changes on a mutation (a new template, a new replica count,
a pod's creation and scheduled deletion, the Service selector); everything that moves
with time alone is derived from it and a time (:mod:`~b2tui.adapters.sandbox.pods`).
So reading never mutates, and a snapshot taken after any mutation resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PRUNE_AFTER = 3600.0
"""Pods deleted longer ago than this are forgotten (bounds state and history)."""

LAYOUT_PLAIN = "plain"
LAYOUT_CANARY = "canary"
LAYOUT_BLUE_GREEN = "blue-green"
COLOURS = ("blue", "green")

_D = TypeVar("_D", bound="DataclassInstance")


def _to_dict(record: DataclassInstance, **encoded: Any) -> dict[str, Any]:
    """``record``'s fields by name; ``encoded`` gives those that are not plain values."""
    return {f.name: getattr(record, f.name) for f in fields(record)} | encoded


def _from_dict(cls: type[_D], d: dict[str, Any], **decoded: Any) -> _D:
    """A ``cls`` from the fields ``d`` has (absent ones take their defaults) and ``decoded``."""
    return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d} | decoded)


@dataclass(slots=True)
class PodRecord:
    """A pod's identity and lifetime; its state at a time is derived from these."""

    seq: int
    """Sequence number within its ReplicaSet: gives the name suffix and the noise."""
    created: float
    """Epoch seconds of creation."""
    deleted: float | None = None
    """Epoch seconds at which it is (or will be) gone; None while it is meant to stay."""

    def alive(self, t: float) -> bool:
        return self.created <= t and (self.deleted is None or t < self.deleted)


@dataclass
class ReplicaSet:
    """One template of a Deployment and the pods created from it."""

    hash: str
    image: str
    revision: int
    """``deployment.kubernetes.io/revision``: renumbered when a rollback reuses it."""
    created: float
    pods: list[PodRecord] = field(default_factory=list)
    next_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, pods=[[p.seq, p.created, p.deleted] for p in self.pods])

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReplicaSet:
        return _from_dict(cls, d, pods=[PodRecord(*p) for p in d["pods"]])


@dataclass
class Deployment:
    """A Deployment: desired replicas, its current template and its ReplicaSets."""

    name: str
    track: str
    """Value of the pods' track (or colour) label: ``stable``, ``canary``, ``blue``…"""
    replicas: int
    current: str
    """Hash of the ReplicaSet of the current template."""
    revision: int
    """Highest revision number handed out so far."""
    progress_since: float
    """When the last spec change happened (start of the progress deadline)."""
    replicasets: dict[str, ReplicaSet] = field(default_factory=dict)

    @property
    def rs(self) -> ReplicaSet:
        return self.replicasets[self.current]

    @property
    def image(self) -> str:
        return self.rs.image

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, replicasets=[rs.to_dict() for rs in self.replicasets.values()])

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deployment:
        sets = [ReplicaSet.from_dict(x) for x in d["replicasets"]]
        return _from_dict(cls, d, replicasets={rs.hash: rs for rs in sets})


@dataclass
class EnvState:
    """One environment (namespace) of the simulated cluster."""

    name: str
    layout: str
    """``plain`` (one Deployment), ``canary`` (stable + ``-canary``) or ``blue-green``."""
    service: str
    baseline_image: str
    """The known-good image the environment ran when the sandbox was built."""
    deployments: dict[str, Deployment]
    primary: str
    """Deployment that serves when there is no canary (plain and canary layouts)."""
    canary: str | None = None
    colours: dict[str, str] = field(default_factory=dict)
    """Blue-green: colour → Deployment name."""
    selector: list[tuple[float, str]] = field(default_factory=list)
    """Blue-green: history of the Service selector's colour, (since, colour)."""
    full_at: float | None = None
    """Since when the new version has had all of the traffic (None: not, or not now)."""
    node_prefix: str = "sandbox"

    def colour_at(self, t: float) -> str | None:
        """Colour the Service selected at ``t`` (None outside blue-green)."""
        colour = None
        for since, c in self.selector:
            if since <= t:
                colour = c
        return colour

    def dep(self, name: str) -> Deployment:
        """The Deployment called ``name``."""
        return self.deployments[name]

    def active(self, t: float) -> Deployment:
        """The Deployment serving when no canary is involved (blue-green: the selected colour)."""
        if self.layout == LAYOUT_BLUE_GREEN:
            return self.dep(self.colours[self.colour_at(t) or COLOURS[0]])
        return self.dep(self.primary)

    def settle(self, now: float) -> None:
        """After a mutation at ``now``: note whether the new version has all the traffic,
        and forget pods gone for longer than :data:`PRUNE_AFTER`."""
        self._update_full_at(now)
        for dep in self.deployments.values():
            for rs in dep.replicasets.values():
                rs.pods = [p for p in rs.pods if p.deleted is None or p.deleted > now - PRUNE_AFTER]

    def _update_full_at(self, now: float) -> None:
        """Record since when the new version has all the traffic (None when it hasn't)."""
        if self.layout == LAYOUT_BLUE_GREEN:
            deps = [self.active(now)]
            since = self.selector[-1][0] if self.selector else -math.inf
        else:
            deps = list(self.deployments.values())
            since = -math.inf
        latest = since
        new = False
        for dep in deps:
            for rs in dep.replicasets.values():
                for p in rs.pods:
                    if rs.image == self.baseline_image:
                        if p.deleted is None:
                            self.full_at = None
                            return
                        latest = max(latest, p.deleted)
                    elif p.deleted is None:
                        new = True
        if not new:
            self.full_at = None
        elif self.full_at is None:
            self.full_at = latest if latest > -math.inf else now

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(
            self,
            deployments=[d.to_dict() for d in self.deployments.values()],
            colours=dict(self.colours),
            selector=[[t, c] for t, c in self.selector],
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvState:
        deps = [Deployment.from_dict(x) for x in d["deployments"]]
        return _from_dict(
            cls,
            d,
            deployments={x.name: x for x in deps},
            colours=dict(d.get("colours", {})),
            selector=[(t, c) for t, c in d.get("selector", [])],
        )
