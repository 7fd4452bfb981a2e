"""The audit log's hash chain: each entry carries the hash of the one before, so an entry
edited, removed or reordered after the fact shows.

``hash = sha256(canonical(entry) + prev)`` where ``canonical`` is the JSON array of the
entry's fields (run, wall time, run time, user, action, detail, accepted) with no spaces
and keys in a fixed order, UTF-8. :func:`verify` recomputes every hash from the fields and
the hash before; the first entry whose stored ``prev`` or ``hash`` does not match is
named. Entries written before the chain existed (no hash) may only come first.

The SQLite store's log is one chain; the kube store's is one chain per journal (a run's
audit, and the one outside runs): :func:`verify_chains` checks each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from b2tui.ports import AuditEntry

GENESIS = "0" * 64
"""``prev`` of the first chained entry."""


def canonical(
    run_id: str | None,
    wall_ts: str,
    run_ts: str | None,
    user: str,
    action: str,
    detail: str,
    accepted: bool,
) -> bytes:
    """The bytes an entry's hash covers (besides the previous hash)."""
    fields = [run_id, wall_ts, run_ts, user, action, detail, bool(accepted)]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev: str, body: bytes) -> str:
    return hashlib.sha256(body + prev.encode()).hexdigest()


def hash_of(e: AuditEntry, prev: str) -> str:
    body = canonical(e.run_id, e.wall_ts, e.run_ts, e.user, e.action, e.detail, e.accepted)
    return entry_hash(prev, body)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    """Entries whose hash was recomputed."""
    legacy: int = 0
    """Entries from before the chain (first in the log, no hash)."""
    bad: int | None = None
    """Id of the first entry that does not match."""
    reason: str = ""


def verify(entries: Sequence[AuditEntry]) -> Verdict:
    """Check the chain of the whole log, in id order."""
    prev = GENESIS
    legacy = checked = 0
    chained = False
    for e in entries:
        if not e.hash and not chained:
            legacy += 1
            continue
        chained = True
        if not e.hash:
            return Verdict(False, checked, legacy, e.id, "it has no hash after chained entries")
        if e.prev != prev:
            return Verdict(
                False,
                checked,
                legacy,
                e.id,
                "its link to the entry before does not match (an entry was removed or"
                " inserted before it)",
            )
        want = hash_of(e, prev)
        if want != e.hash:
            return Verdict(
                False, checked, legacy, e.id, "its content does not match its hash (edited)"
            )
        checked += 1
        prev = e.hash
    return Verdict(True, checked, legacy)


def verify_chains(chains: Sequence[Sequence[AuditEntry]]) -> Verdict:
    """Check several independent chains; the failure named is the one whose entry comes
    first in the whole log (lowest id)."""
    checked = legacy = 0
    bad: Verdict | None = None
    for chain in chains:
        v = verify(chain)
        checked += v.checked
        legacy += v.legacy
        if not v.ok and (bad is None or (v.bad or 0) < (bad.bad or 0)):
            bad = v
    if bad is None:
        return Verdict(True, checked, legacy)
    return Verdict(False, checked, legacy, bad.bad, bad.reason)
