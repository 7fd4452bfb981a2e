"""Sign-offs and the audit log: append-only journals in ConfigMaps.

A run's sign-offs are the journal ``b2tui-run-<run>-signoffs``, its audit entries
``b2tui-run-<run>-audit``; audit entries outside a run go to ``b2tui-audit``. Every
record is masked before it is written. The whole audit log is the ``b2tui.io/kind=audit``
chunks of every journal, in wall-clock order.

Each audit journal is a hash chain (:mod:`b2tui.adapters.store.chain`, as the SQLite
store's): an entry carries ``prev``, the hash of the journal's entry before it, and
``hash``. The append is computed from the last entry read and written under that chunk's
resourceVersion, so two writers cannot both link to one entry. Whoever edits, removes or
reorders an entry after the fact (``kubectl edit configmap``) breaks its journal's chain
there, and ``b2tui audit --verify`` names it. What a chain cannot show: a journal cut
short at its end, or deleted whole (the store's Roles grant no ``delete``).
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from b2tui.adapters.kube_store.api import NamespaceApi
from b2tui.adapters.kube_store.objects import KIND, dumps
from b2tui.adapters.store.chain import GENESIS, canonical, entry_hash
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
        """Write one audit entry (already masked) to the journal of ``run_id``, linked to
        the journal's entry before it."""
        j = self.api.journal("audit", run_id)
        body = canonical(
            entry["run_id"],
            entry["wall_ts"],
            entry["run_ts"],
            entry["user"],
            entry["action"],
            entry["detail"],
            entry["accepted"],
        )

        def build(last: str | None) -> str:
            prev = GENESIS
            if last is not None:
                with contextlib.suppress(ValueError, AttributeError):  # damaged: --verify says
                    prev = str(json.loads(last).get("hash") or GENESIS)
            return dumps({**entry, "prev": prev, "hash": entry_hash(prev, body)})

        self.api.guard("write the audit log", lambda: j.append_linked(build), write=True)

    def journals(self) -> list[list[AuditEntry]]:
        """Every audit journal's entries in its own (sequence) order; ids number the
        whole log in wall-clock order, as :meth:`entries` does."""
        objs = self.api.guard(
            "read the audit log", lambda: self.api.list_configmaps(f"{KIND}=audit")
        )
        by_journal: dict[str, list[tuple[int, str]]] = {}
        for obj in objs:
            prefix = str(obj["metadata"]["name"]).rsplit("-", 1)[0]
            rows = by_journal.setdefault(prefix, [])
            rows += [(int(k), v) for k, v in (obj.get("data") or {}).items() if k.isdigit()]
        parsed = [
            [(prefix, seq, _row(text)) for seq, text in sorted(rows)]
            for prefix, rows in sorted(by_journal.items())
        ]
        order = sorted(
            (r for rows in parsed for r in rows), key=lambda r: (str(r[2]["wall_ts"]), r[0], r[1])
        )
        ids = {(p, seq): i + 1 for i, (p, seq, _) in enumerate(order)}
        return [[_entry(ids[(p, seq)], d) for p, seq, d in rows] for rows in parsed]

    def entries(self, run_id: str | None = None) -> list[AuditEntry]:
        """The audit log of ``run_id``, or of everything (wall-clock order)."""
        if run_id is not None:
            j = self.api.journal("audit", run_id)
            rows = [_row(t) for _, t in self.api.guard("read the audit log", j.records)]
            return [_entry(i + 1, d) for i, d in enumerate(rows)]
        return sorted((e for rows in self.journals() for e in rows), key=lambda e: e.id)


def _row(text: str) -> dict[str, Any]:
    """One journal record; text that is no longer an entry (edited by hand) is kept as an
    entry that matches no hash, so ``--verify`` names it rather than failing to read."""
    try:
        d = json.loads(text)
    except ValueError:
        d = None
    if not isinstance(d, dict):
        return {"wall_ts": "", "user": "?", "action": "?", "detail": text[:200], "hash": "?"}
    return d


def _entry(n: int, d: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        n,
        d.get("run_id"),
        str(d.get("wall_ts", "")),
        d.get("run_ts"),
        str(d.get("user", "")),
        str(d.get("action", "")),
        str(d.get("detail", "")),
        bool(d.get("accepted")),
        str(d.get("prev") or ""),
        str(d.get("hash") or ""),
    )
