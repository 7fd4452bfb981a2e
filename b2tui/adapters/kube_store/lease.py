"""The driver lease: one coordination.k8s.io/v1 Lease per service and environment.

``Lease b2tui-<service>-<env>`` holds ``holderIdentity``, ``renewTime`` and
``leaseDurationSeconds``, and annotations naming the host, pid and run of the holder.
Every take and renewal is an update with the resourceVersion it read, so of two drivers
racing on two hosts the API server lets exactly one write through (the other gets 409).
A release clears the holder with a merge patch, again under the resourceVersion read.

The lease expires ``leaseDurationSeconds`` after its ``renewTime`` as the holder wrote
it, so the hosts' clocks must agree to within a fraction of the TTL (NTP does that).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from typing import Any

from b2tui.adapters.kube.errors import KubeApiError
from b2tui.adapters.kube_store.api import NamespaceApi
from b2tui.adapters.kube_store.objects import holder, lease_body
from b2tui.adapters.lease_keeper import LeaseKeeper
from b2tui.adapters.store.common import held_by_another, ours
from b2tui.ports import Lease, StoreError, StoreWriteFailed


class RunDriven(StoreError):
    """Another process holds the lease of this service and environment: no new run."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"a run of this service and environment is driven by {holder}")
        self.holder = holder


class Leases:
    """Take, renew, read and release the driver Leases of one namespace.

    Args:
        api: the namespace's calls.
    """

    def __init__(self, api: NamespaceApi) -> None:
        self.api = api

    def _read(self, name: str) -> dict[str, Any] | None:
        cur: dict[str, Any] | None = self.api.guard(
            f"read lease {name}", lambda: self.api.get_lease(name)
        )
        return cur

    def take(
        self, name: str, run_id: str, owner: str, ttl: float
    ) -> tuple[bool, Lease | None, Lease | None]:
        """Take or renew Lease ``name`` for ``run_id``: (won, holder now, the lapsed lease
        of another process this take replaced).

        Free when absent, released, expired, ours, or held by a dead process on this host.
        """
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        cur = self._read(name)
        prev = holder(cur) if cur else None
        if prev is not None and held_by_another(prev, now):
            return False, prev, None
        mine = prev is not None and ours(prev)
        seconds = max(1, math.ceil(ttl))
        body = lease_body(name, run_id, owner, seconds, cur, ours=mine, host=host, pid=pid, now=now)
        try:
            if cur is None:
                got = self.api.create_lease(name, body)
            else:
                got = self.api.update_lease(name, body)
        except KubeApiError as e:
            if e.status == 409:  # another host wrote first: it holds the lease now
                latest = self._read(name)
                return False, holder(latest) if latest else None, None
            raise StoreWriteFailed(f"kube store {self.api.path}: lease {name}: {e}") from None
        # The conductor audits a take-over of a lapsed lease (``Claim.previous``).
        return True, holder(got), prev if prev is not None and not mine else None

    def of_run(self, name: str, run_id: str) -> Lease | None:
        """The holder of Lease ``name`` while it is ``run_id``'s (None when released or
        taken for another run)."""
        cur = self._read(name)
        if cur is None:
            return None
        ann = (cur.get("metadata") or {}).get("annotations") or {}
        if ann.get("b2tui.io/run") not in (None, run_id):
            return None
        return holder(cur)

    def release(self, name: str) -> None:
        """Clear the holder of Lease ``name`` if this process holds it."""
        cur = self.api.get_lease(name)
        held = holder(cur) if cur else None
        if cur is None or held is None:
            return
        if not ours(held):
            return
        body = {
            "metadata": {"resourceVersion": cur["metadata"]["resourceVersion"]},
            "spec": {"holderIdentity": None, "renewTime": None},
        }
        with contextlib.suppress(KubeApiError):  # a conflict: someone else took it meanwhile
            self.api.patch_lease(name, body)

    def keep(self, name: str, run_id: str, owner: str, ttl: float) -> LeaseKeeper:
        """Renew our Lease every ``ttl / 3`` seconds from a thread until stopped."""
        keeper = _LeaseKeeper(self, name, run_id, owner, ttl)
        keeper.start()
        return keeper


class _LeaseKeeper(LeaseKeeper):
    """Renews one Lease every ``ttl / 3`` seconds on its own thread.

    A renewal is the same resourceVersion-guarded update as a take: if another process
    took the lease (ours had lapsed), the renewal fails and :attr:`lost` names it. A
    failing API server is retried every second and reported in :attr:`failing`.
    """

    errors = (StoreError, KubeApiError)

    def __init__(self, leases: Leases, name: str, run_id: str, owner: str, ttl: float) -> None:
        super().__init__(f"b2tui-kube-lease-{run_id}", ttl)
        self._leases, self._name, self._run_id, self._owner = leases, name, run_id, owner

    def _renew_once(self) -> Lease | None:
        won, other, _ = self._leases.take(self._name, self._run_id, self._owner, self._ttl)
        return None if won else other
