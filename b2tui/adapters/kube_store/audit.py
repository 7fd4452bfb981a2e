"""Sign-offs and the audit log: append-only journals in ConfigMaps.

A run's sign-offs are the journal ``b2tui-run-<run>-signoffs``, its audit entries
``b2tui-run-<run>-audit``; audit entries outside a run go to ``b2tui-audit``. Every
record is masked before it is written. The whole audit log is the ``b2tui.io/kind=audit``
chunks of every journal, in wall-clock order.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from b2tui.adapters.kube_store.api import NamespaceApi
from b2tui.adapters.kube_store.objects import KIND, dumps
from b2tui.masking import mask_data
from b2tui.ports import AuditEntry


class AuditLog:
    """The sign-off and audit journals of one namespace.

    Args:
        api: the namespace's calls.
    """

    def __init__(self, api: NamespaceApi) -> None:
        self.api = api

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        rec = {
            "item": item,
            "user": user,
            "run_ts": run_ts.isoformat(),
            "wall_ts": datetime.now().astimezone().isoformat(),
        }
        j = self.api.journal("signoffs", run_id)
        self.api.guard("record a sign-off", lambda: j.append([dumps(mask_data(rec))]), write=True)

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        j = self.api.journal("signoffs", run_id)
        out: dict[str, tuple[str, datetime]] = {}
        for _, text in self.api.guard("read sign-offs", lambda: j.records()):
            d = json.loads(text)
            out[d["item"]] = (d["user"], datetime.fromisoformat(d["run_ts"]))
        return out

    def append(self, run_id: str | None, entry: dict[str, Any]) -> None:
        """Write one audit entry (already masked) to the journal of ``run_id``."""
        j = self.api.journal("audit", run_id)
        self.api.guard("write the audit log", lambda: j.append([dumps(entry)]), write=True)

    def entries(self, run_id: str | None = None) -> list[AuditEntry]:
        """The audit log of ``run_id``, or of everything (wall-clock order)."""
        if run_id is not None:
            j = self.api.journal("audit", run_id)
            rows = [json.loads(t) for _, t in self.api.guard("read the audit log", j.records)]
        else:
            rows = []
            for obj in self.api.guard(
                "read the audit log", lambda: self.api.list_configmaps(f"{KIND}=audit")
            ):
                rows += [json.loads(v) for k, v in (obj.get("data") or {}).items() if k.isdigit()]
            rows.sort(key=lambda d: d["wall_ts"])
        return [
            AuditEntry(
                i + 1,
                d["run_id"],
                d["wall_ts"],
                d["run_ts"],
                d["user"],
                d["action"],
                d["detail"],
                bool(d["accepted"]),
            )
            for i, d in enumerate(rows)
        ]
