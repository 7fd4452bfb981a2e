"""A driver process for the kube-store tests: the sandbox workload, the real store.

``python -m tests.realkube.kube_driver KUBECONFIG NAMESPACE SPEED [SCENARIO]`` does what
``b2tui run --headless`` does (resume the unfinished run or start one; drive it if the
lease is won, else follow it; apply intents other hosts send), with the sandbox as cluster
and metrics so the tests stay fast: the store, the lease and the intents are the real
thing on the real API server. With ``--staging NS`` the cluster is real too (the
``KubeCluster`` on KUBECONFIG): production is ``web`` in NAMESPACE, seeded by the caller
from ``production.yaml``, and staging is ``web`` in NS. Prints ``DRIVING <run>`` or
``WATCHING <run>`` first, then one JSON event per line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from b2tui.adapters.kube import KubeCluster
from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeStore
from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import current_user
from b2tui.cli.follow import follower, serve_intents, watch
from b2tui.cli.printer import Printer
from b2tui.config import StoreSettings, sandbox_settings
from b2tui.domain.people import Roles
from b2tui.domain.phases import Strategy
from b2tui.engine.clock import ScaledClock
from b2tui.engine.conductor import Conductor, LeaseHeld
from tests.realkube.seed import on_real_kube


async def main(
    kubeconfig: str,
    namespace: str,
    speed: float,
    scenario: str,
    staging: str | None,
    roles: str | None = None,
) -> int:
    settings = dataclasses.replace(
        sandbox_settings(), store=StoreSettings(backend="kube", namespace=namespace)
    )
    if roles:  # [roles] as JSON: role -> members
        members = {r: tuple(m) for r, m in json.loads(roles).items()}
        settings = dataclasses.replace(settings, roles=Roles(members, configured=True))
    if staging is not None:
        settings = on_real_kube(settings, namespace, staging, Path(kubeconfig).parent)
    store = KubeStore(connect(kubeconfig, None), namespace)
    # The harness names its driver as the engine tests do (b2tui itself ignores
    # B2TUI_USER outside the sandbox: its kube-store driver is the cluster's user).
    named = os.environ.get("B2TUI_USER")
    user = f"{named}@{socket.gethostname()}" if named else current_user()
    args = argparse.Namespace(json=True, env="production", take_over=False)
    rec = store.unfinished_run(settings.service.name, sandbox=True)
    params = dict(rec.params) if rec else {"sandbox": True, "scenario": scenario, "seed": 7}
    start = (store.last_time(rec.id) if rec else None) or datetime.now(UTC)
    clock = ScaledClock(speed, start)
    sandbox = build_sandbox(
        params["scenario"], int(params["seed"]), clock, settings, Strategy.CANARY
    )
    ports = sandbox.ports
    if staging is not None:
        ports = dataclasses.replace(ports, cluster=KubeCluster(kubeconfig))
    conductor = Conductor(
        settings, ports, store, clock, user=user, autopilot=True, autopilot_user=user
    )
    claim = await conductor.claim(
        version=None if rec else "1a2b3c4",
        scenario=params["scenario"],
        params=params,
        commit_at=clock.now() - timedelta(minutes=30),
    )
    for _ in range(100):  # the winner of a race records its run right after its lease
        if claim.run is not None or claim.holder is None:
            break
        await asyncio.sleep(0.1)
        found = store.unfinished_run(settings.service.name, sandbox=True)
        claim = dataclasses.replace(claim, run=found)
    if claim.run is None:
        print("NOTHING", flush=True)
        return 1
    if not claim.driver:
        print(f"WATCHING {claim.run.id}", flush=True)
        session = follower(store, settings, "production", claim.run.id)
        return await watch(session, args, True, claim.holder.owner if claim.holder else "")
    if not claim.created:
        snap = store.get_blob(claim.run.id, "sandbox")
        if snap:
            sandbox.restore(snap)
    run_id = conductor.run_id
    sandbox.on_change = lambda: store.put_blob(run_id, "sandbox", sandbox.snapshot())
    store.put_blob(run_id, "sandbox", sandbox.snapshot())
    conductor.subscribe(Printer(sys.stdout, True))
    stop = serve_intents(store, settings, "production", conductor)
    try:
        print(f"DRIVING {run_id}", flush=True)
        return (await conductor.run()).exit_code
    except LeaseHeld:
        print(f"WATCHING {run_id}", flush=True)
        return 0
    finally:
        stop()
        store.close()


if __name__ == "__main__":
    cli = argparse.ArgumentParser()
    cli.add_argument("kubeconfig")
    cli.add_argument("namespace")
    cli.add_argument("speed", type=float)
    cli.add_argument("scenario", nargs="?", default="happy")
    cli.add_argument("--staging", help="drive the real Deployments; staging's namespace")
    cli.add_argument("--roles", help="[roles] as JSON (role -> members)")
    a = cli.parse_args()
    raise SystemExit(
        asyncio.run(main(a.kubeconfig, a.namespace, a.speed, a.scenario, a.staging, a.roles))
    )
