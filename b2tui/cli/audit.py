"""``b2tui audit``: read the audit log, and ``--verify`` its hash chain."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from b2tui.cli.loading import load, open_store
from b2tui.ports import AuditEntry


def cmd_audit(args: argparse.Namespace) -> int:
    """Print every audit entry (text or ``--json`` lines); ``--verify``: exit 0 when the
    chain holds, else 1 naming the first entry that does not match."""
    from b2tui.adapters.store.chain import verify_chains

    settings = load(args.config) if args.config else None
    store = open_store(args.state, read_only=True, settings=settings, env=args.env)
    try:
        entries = store.audit_log()
        # The kube store keeps one chain per journal (a run's, the one outside runs).
        chains = store.audit_chains() if hasattr(store, "audit_chains") else [entries]
    finally:
        store.close()
    if args.verify:
        v = verify_chains(chains)
        where = store.location
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": v.ok,
                        "checked": v.checked,
                        "legacy": v.legacy,
                        "bad": v.bad,
                        "reason": v.reason,
                        "store": where,
                    }
                )
            )
        elif v.ok:
            before = f" ({v.legacy} entries from before the chain, unchecked)" if v.legacy else ""
            print(f"b2tui: audit log of {where}: {v.checked} entries, chain intact{before}")
        else:
            print(
                f"b2tui: audit log of {where}: entry {v.bad} does not match: {v.reason}"
                f"{_which(entries, v.bad)}; {v.checked} entries before it are intact",
                file=sys.stderr,
            )
        return 0 if v.ok else 1
    for e in entries:
        if args.json:
            print(json.dumps(asdict(e)))
        else:
            refused = "" if e.accepted else " (refused)"
            run = f" {e.run_id}" if e.run_id else ""
            print(f"{e.id:>6} {e.wall_ts}{run} {e.user}: {e.action}{refused} {e.detail}".rstrip())
    return 0


def _which(entries: list[AuditEntry], n: int | None) -> str:
    """`` (run R, wall time)`` of entry ``n``, to find it by."""
    e = next((e for e in entries if e.id == n), None)
    if e is None:
        return ""
    run = f"run {e.run_id}, " if e.run_id else ""
    return f" ({run}at {e.wall_ts})"
