"""The protocol every traffic router implements."""

from __future__ import annotations

from typing import Protocol

from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.rollback import FirstWrite
from b2tui.domain.canary import ReplicaSplit
from b2tui.ports import TrafficSplit


class TrafficRouter(Protocol):
    """Moves traffic between ``<service>`` (stable) and the canary for one environment.

    Every method but :meth:`first_reset` (which only builds a request) is blocking (it
    runs in the adapter's worker thread) and reads the one object it may change before
    writing, so calling it twice is harmless.
    """

    def check(self, api: Api) -> list[str]:
        """Problems with the objects this router needs (one line each); empty when fine."""
        ...

    def set_weight(self, api: Api, percent: int, split: ReplicaSplit) -> TrafficSplit:
        """Give the canary ``percent`` of the traffic; its pods run ``split.canary`` replicas
        already (of ``split.canary + split.stable``)."""
        ...

    def route_header(self, api: Api) -> str:
        """Before any weight: requests carrying the target's ``canary_header`` (with its
        value) go to the canary, every other request stays on stable; what was set, in a
        few words. Raises StepFailed when the router cannot route by header."""
        ...

    def verify(self, api: Api) -> TrafficSplit:
        """The split as the cluster has it now."""
        ...

    def reset(self, api: Api) -> bool:
        """All traffic back to stable (weight 0, no header route); True when anything
        changed."""
        ...

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        """After :meth:`set_weight` wrote ``percent`` / ``split``: the one request that takes
        the canary out of traffic again without a read (a rollback's first write); None
        when there is none (nothing to undo, or it needs a read)."""
        ...
