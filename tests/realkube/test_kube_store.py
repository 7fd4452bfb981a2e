"""The kube store on the real control plane: Lease, ConfigMap journals, intents, RBAC."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from b2tui import cli
from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeIntents, KubeStore
from b2tui.adapters.kube_store.store import RunDriven
from b2tui.domain import events as ev
from b2tui.domain.phases import Phase
from b2tui.ports import Intent, RunRecord, SourceError
from b2tui.ui.app import make_app
from tests.realkube.attach import (
    attached,
    driver_process,
    grant,
    run_state,
    start_holding_driver,
    store_settings,
    two_kubeconfigs,
    until,
    user,
)
from tests.realkube.cluster import RealKube
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

WATCHER_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
]


@pytest.fixture
def two_drivers(realkube: RealKube, kube_ns: str, tmp_path: Path) -> tuple[Path, Path]:
    """Kubeconfigs of two drivers: user ``tester`` and ServiceAccount ``driver2``."""
    return two_kubeconfigs(realkube, kube_ns, tmp_path)


def record(run_id: str, service: str = "web") -> RunRecord:
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    return RunRecord(
        id=run_id,
        service=service,
        environment="production",
        strategy="canary",
        version="1a2b3c4",
        image="registry.local/web:production-1a2b3c4",
        emergency=False,
        params={"config": "b2tui.toml"},
        state={"phase": "readiness"},
        clock=now,
        started_at=now,
        commit_at=None,
        finished_at=None,
        outcome=None,
        reason=None,
        created_by="tester@jump1",
    )


def test_store_keeps_a_run_past_one_mebibyte_of_events(
    realkube: RealKube, kube_ns: str, two_drivers: tuple[Path, Path]
) -> None:
    a, b = two_drivers
    store = KubeStore(connect(str(a), None), kube_ns)
    store.create_run(record("r1"))
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    line = "x" * 1000
    n = 1300  # 1300 events of ~1.1 kB: past 1 MiB in all
    for i in range(n):
        store.append_event(
            "r1",
            ev.LogLine(
                ts=t0 + timedelta(seconds=i),
                phase=Phase.VALIDATE,
                source="build",
                line=f"{i} {line}",
            ),
        )
    store.save_state("r1", {"phase": "validate", "n": n}, t0 + timedelta(seconds=n))

    chunks = realkube.list("v1", "ConfigMap", kube_ns, "b2tui.io/kind=events")
    sizes = [sum(len(v) for v in (c.get("data") or {}).values()) for c in chunks]
    assert sum(sizes) > 1024 * 1024, "the run's events pass 1 MiB in all"
    assert max(sizes) < 1024 * 1024 and len(chunks) > 1

    # Another process (another user) reads the same run: every event, in order.
    other = KubeStore(connect(str(b), None), kube_ns)
    got = other.events("r1")
    assert [int(e.line.split()[0]) for _, e in got] == list(range(n))
    assert [i for i, _ in got] == list(range(1, n + 1))
    assert [int(e.line.split()[0]) for _, e in other.events("r1", after=n - 3)] == [
        n - 3,
        n - 2,
        n - 1,
    ]
    rec = other.get_run("r1")
    assert rec is not None and rec.state == {"phase": "validate", "n": n}

    # And the run keeps working: one more event, a finish, history.
    store.append_event(
        "r1",
        ev.Notice(ts=t0 + timedelta(seconds=n), phase=Phase.VALIDATE, level="info", message="done"),
    )
    store.finish_run("r1", "succeeded", "", t0 + timedelta(seconds=n + 1))
    store.flush()
    assert other.events("r1", after=n)[0][1].message == "done"  # type: ignore[union-attr]
    assert other.unfinished_run("web") is None
    assert [r.outcome for r in other.runs()] == ["succeeded"]
    store.close()
    other.close()


def test_the_lease_has_one_holder_and_a_lapsed_one_is_taken_over(
    realkube: RealKube, kube_ns: str, two_drivers: tuple[Path, Path]
) -> None:
    a, b = two_drivers
    sa = KubeStore(connect(str(a), None), kube_ns)
    sb = KubeStore(connect(str(b), None), kube_ns)
    kw = {"sandbox": False, "ttl": 15.0}
    first = sa.claim_run("web", "production", owner="tester pid 1 on a", new=record("r2"), **kw)
    assert first.driver and first.created and first.run is not None and first.run.id == "r2"
    path = ("coordination.k8s.io/v1", "Lease", kube_ns, "b2tui-web-production")
    lease = realkube.get(*path)
    assert lease is not None and lease["spec"]["holderIdentity"] == "tester pid 1 on a"
    assert lease["spec"]["leaseDurationSeconds"] == 15
    # Both stores live in this test's process; the annotation makes the holder another host.
    realkube.patch(*path, {"metadata": {"annotations": {"b2tui.io/host": "jump1"}}})
    # The other host neither drives nor records a run of its own…
    second = sb.claim_run("web", "production", owner="driver2 pid 2 on b", new=record("r3"), **kw)
    assert not second.driver and second.run is not None and second.run.id == "r2"
    assert second.holder is not None and second.holder.owner == "tester pid 1 on a"
    with pytest.raises(RunDriven):
        sb.create_run(record("r4"))
    assert sb.get_run("r3") is None and sb.get_run("r4") is None
    # …until the holder has not renewed the lease for longer than its duration: the run is
    # taken over, and the claim names the lapsed lease (the conductor audits it).
    stale = (datetime.now(UTC) - timedelta(seconds=16)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    realkube.patch(*path, {"spec": {"renewTime": stale}})
    third = sb.claim_run("web", "production", owner="driver2 pid 2 on b", new=record("r5"), **kw)
    assert third.driver and not third.created and third.run is not None
    assert third.run.id == "r2"
    assert third.previous is not None and third.previous.owner == "tester pid 1 on a"
    lease = realkube.get(*path)
    assert lease is not None and lease["spec"]["holderIdentity"] == "driver2 pid 2 on b"
    assert lease["spec"]["leaseTransitions"] == 1
    assert [r.id for r in sb.runs()] == ["r2"]
    sa.close()
    sb.close()


def _first_line(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(("DRIVING", "WATCHING")):
            return line
    return ""


def test_two_drivers_on_two_users_race_and_one_drives(
    realkube: RealKube, kube_ns: str, two_drivers: tuple[Path, Path], tmp_path: Path, procs: list
) -> None:
    a, b = two_drivers
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs += [
        driver_process(a, kube_ns, "alice", 20, logs[0]),
        driver_process(b, kube_ns, "bob", 20, logs[1]),
    ]
    wait_until(lambda: all(_first_line(p) for p in logs), 60, "both processes to decide")
    firsts = sorted(_first_line(p).split()[0] for p in logs)
    assert firsts == ["DRIVING", "WATCHING"], [p.read_text()[-2000:] for p in logs]
    runs = realkube.list("v1", "ConfigMap", kube_ns, "b2tui.io/kind=run")
    assert len(runs) == 1, "the loser recorded no run of its own"
    winner = 0 if _first_line(logs[0]).startswith("DRIVING") else 1
    lease = realkube.get("coordination.k8s.io/v1", "Lease", kube_ns, "b2tui-b2connect-production")
    assert lease is not None
    assert lease["spec"]["holderIdentity"].startswith(["alice", "bob"][winner] + "@")


def _store_config(tmp_path: Path, ns: str) -> Path:
    """A b2tui.toml as a user on another host writes it: the service, the kube store."""
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        f'[service]\nname = "b2connect"\n[store]\nbackend = "kube"\nnamespace = "{ns}"\n'
        '[environments.staging]\nnamespace = "s"\n[environments.production]\nnamespace = "p"\n'
    )
    return cfg


SPEED = 30.0
"""Simulated seconds per real second: a 5-minute hold lasts 10 s."""


def test_a_sigkilled_driver_is_resumed_by_another_user_with_its_hold_deadline(
    realkube: RealKube,
    kube_ns: str,
    two_drivers: tuple[Path, Path],
    tmp_path: Path,
    procs: list,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_drivers
    procs.append(driver_process(a, kube_ns, "alice", SPEED, tmp_path / "a.log"))

    def holding() -> bool:
        st = run_state(realkube, kube_ns)
        return (
            st.get("phase") == "production"
            and bool(st.get("hold_until"))
            and st.get("canary_percent", 0) > 0
        )

    wait_until(holding, 180, "the first driver to hold a canary step")
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    before = run_state(realkube, kube_ns)  # what the killed driver left in the store

    procs.append(driver_process(b, kube_ns, "bob", SPEED, tmp_path / "b.log"))
    wait_until(lambda: bool(_first_line(tmp_path / "b.log")), 60, "the second driver to decide")
    assert _first_line(tmp_path / "b.log").startswith("DRIVING"), (tmp_path / "b.log").read_text()
    assert procs[1].wait(300) == 0, (tmp_path / "b.log").read_text()[-3000:]

    store = KubeStore(connect(str(b), None), kube_ns)
    run_id = store.runs()[0].id
    events = [e for _, e in store.events(run_id)]
    i = next(i for i, e in enumerate(events) if isinstance(e, ev.RunResumed))
    assert events[i].by.startswith("bob@")  # type: ignore[attr-defined]
    # The hold kept its deadline: no hold restarted after the resume, and the next step
    # came at (not before) the deadline the killed driver had recorded.
    later = events[i + 1 :]
    step = next(
        e
        for e in later
        if isinstance(e, ev.TrafficChanged) and e.canary_percent > before["canary_percent"]
    )
    held_again = [
        e for e in later[: later.index(step)] if isinstance(e, ev.HoldStarted) and e.seconds
    ]
    assert held_again == []
    assert step.ts >= datetime.fromisoformat(before["hold_until"])
    actions = [(e.action, e.user) for e in store.audit_log(run_id)]
    assert ("start", actions[0][1]) == actions[0] and actions[0][1].startswith("alice@")
    resumed_by_bob = [e for e in store.audit_log(run_id) if e.user.startswith("bob@")]
    assert resumed_by_bob[0].action in ("resume", "take-over")
    assert "alice@" in resumed_by_bob[0].detail, "the lapsed lease it took over is named"
    assert store.get_run(run_id).outcome == "succeeded"  # type: ignore[union-attr]
    store.close()
    # `b2tui history` reads the run from the cluster (any host with read access).
    cfg = _store_config(tmp_path, kube_ns)
    monkeypatch.setenv("KUBECONFIG", str(a))
    capsys.readouterr()
    assert cli.main(["history", "--config", str(cfg), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["outcome"]) for r in shown["runs"]] == [(run_id, "succeeded")]
    assert shown["dora"]["change_failure_rate"] == 0


def test_an_attached_control_room_rolls_the_run_back_by_key(
    realkube: RealKube, kube_ns: str, two_drivers: tuple[Path, Path], tmp_path: Path, procs: list
) -> None:
    a, b = two_drivers  # a: user tester (the operator), b: ServiceAccount driver2 (the driver)
    run_id = start_holding_driver(realkube, kube_ns, b, tmp_path / "driver.log", procs)
    session = attached(a, kube_ns, run_id)
    assert not session.read_only and session.user == "tester"
    assert session.driver.startswith("driver@")
    app = make_app(
        store_settings(kube_ns),
        session,
        clock=session.clock,
        runner=session.follow,
        user=session.user,
    )

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: session.view.canary_percent > 0, "the canary on screen", 30)
            # The header names the driving process (the lease holder) and this operator.
            header = app.query_one("#run-info").text  # type: ignore[attr-defined]
            assert "driven by driver@" in header and "you: tester" in header, header
            assert app.active_bindings.get("R") is not None
            await pilot.press("R")
            # The driver on the other process applies it; the watch brings it back.
            await until(pilot, lambda: session.view.rollback_started is not None, "rollback", 30)
            assert session.view.rollback_by == "tester"

    asyncio.run(drive())
    store = KubeStore(connect(str(b), None), kube_ns)
    events = [e for _, e in store.events(run_id)]
    acted = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, ev.OperatorActed) and e.action == "rollback"
    )
    started = next(i for i, e in enumerate(events) if isinstance(e, ev.RollbackStarted))
    assert events[acted].user == "tester" and events[acted].accepted  # type: ignore[attr-defined]
    assert acted <= started + 1 and events[started].by == "tester"  # type: ignore[attr-defined]
    audit = [(e.user, e.action, e.accepted) for e in store.audit_log(run_id)]
    assert ("tester", "rollback", True) in audit
    inbox = realkube.get("v1", "ConfigMap", kube_ns, "b2tui-intents-b2connect-production")
    assert inbox is not None and not inbox.get("data"), "the driver claimed the intent"
    assert procs[0].wait(120) == 3, (tmp_path / "driver.log").read_text()[-2000:]
    assert store.get_run(run_id).outcome == "rolled_back"  # type: ignore[union-attr]
    store.close()


def test_b2tui_abort_from_another_host_sends_the_driver_an_abort_intent(
    realkube: RealKube,
    kube_ns: str,
    two_drivers: tuple[Path, Path],
    tmp_path: Path,
    procs: list,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_drivers  # a: user tester (the operator), b: ServiceAccount driver2 (the driver)
    run_id = start_holding_driver(realkube, kube_ns, b, tmp_path / "driver.log", procs)
    cfg = _store_config(tmp_path, kube_ns)
    monkeypatch.setenv("KUBECONFIG", str(a))
    capsys.readouterr()
    assert cli.main(["abort", "--config", str(cfg)]) == 0
    said = capsys.readouterr().err
    assert f"run {run_id}: abort sent to driver@" in said, said
    # The driver applies it: production was touched, so the abort is a rollback.
    assert procs[0].wait(120) == 3, (tmp_path / "driver.log").read_text()[-2000:]
    store = KubeStore(connect(str(b), None), kube_ns)
    audit = [(e.user, e.action, e.accepted) for e in store.audit_log(run_id)]
    assert ("tester", "abort", True) in audit
    assert store.get_run(run_id).outcome == "rolled_back"  # type: ignore[union-attr]
    store.close()


def test_a_user_without_write_on_intents_watches_but_cannot_act(
    realkube: RealKube, kube_ns: str, two_drivers: tuple[Path, Path], tmp_path: Path, procs: list
) -> None:
    _, b = two_drivers
    grant(realkube, kube_ns, "b2tui-watcher", WATCHER_RULES, user("nobody"))
    viewer = realkube.write_kubeconfig(tmp_path / "nobody.kubeconfig", user="nobody")
    run_id = start_holding_driver(realkube, kube_ns, b, tmp_path / "driver.log", procs)
    session = attached(viewer, kube_ns, run_id)
    assert session.read_only and session.refusal is not None
    assert "nobody may not patch configmap b2tui-intents-b2connect-production" in session.refusal
    app = make_app(
        store_settings(kube_ns),
        session,
        clock=session.clock,
        runner=session.follow,
        user=session.user,
    )
    seen: list[ev.Event] = []
    session.subscribe(seen.append)

    def samples_since(n: int) -> int:
        """Driver polls (distinct gate-sample times) among the events after the n-th."""
        return len({e.ts for e in seen[n:] if isinstance(e, ev.GateSampled)})

    async def watch() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: session.view.canary_percent > 0, "the run on screen", 30)
            assert app.active_bindings.get("R") is None, "no dangerous key for a watcher"
            pressed = len(seen)
            await pilot.press("R")
            # Not a pause: the driver's next two polls, seen here, prove that time passed
            # for it too, so a rollback sent by the key would have been written by now.
            await until(pilot, lambda: samples_since(pressed) >= 2, "two more driver polls", 60)

    asyncio.run(watch())
    # And the API server itself refuses the write RBAC does not grant.
    refused = session.rollback("nobody")
    assert not refused.accepted
    with pytest.raises(SourceError, match="forbidden"):
        session.inbox.submit(Intent(run_id, "rollback", "nobody"))
    inbox = realkube.get("v1", "ConfigMap", kube_ns, "b2tui-intents-b2connect-production")
    assert inbox is not None and not inbox.get("data")
    assert run_state(realkube, kube_ns).get("rollback") is None
    session.store.close()  # type: ignore[attr-defined]


def test_the_shipped_rbac_is_enough_to_drive_act_and_watch(
    realkube: RealKube, kube_ns: str, tmp_path: Path
) -> None:
    """deploy/store-rbac.yaml and deploy/job.yaml's ServiceAccount, as shipped: the Job's
    ServiceAccount drives, an operator acts, a viewer watches and cannot act."""
    docs = [
        d
        for f in ("store-rbac.yaml", "job.yaml")
        for d in yaml.safe_load_all((ROOT / "deploy" / f).read_text())
        if d and d["kind"] not in ("Job", "ConfigMap")
    ]
    for d in docs:
        for s in d.get("subjects") or []:
            if s["kind"] == "ServiceAccount":
                s["namespace"] = kube_ns
        realkube.apply(d, kube_ns)
    for who, roles in (
        ("tester", ("b2tui-viewer", "b2tui-operator")),
        ("nobody", ("b2tui-viewer",)),
    ):
        for role in roles:
            realkube.apply(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"{who}-{role}"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": role,
                    },
                    "subjects": [user(who)],
                },
                kube_ns,
            )
    token = realkube.service_account_token(kube_ns, "b2tui-job")
    job = KubeStore(
        connect(str(realkube.write_kubeconfig(tmp_path / "job", token=token)), None), kube_ns
    )
    ops = KubeStore(
        connect(str(realkube.write_kubeconfig(tmp_path / "ops", user="tester")), None), kube_ns
    )
    viewer = KubeStore(
        connect(str(realkube.write_kubeconfig(tmp_path / "v", user="nobody")), None), kube_ns
    )

    claim = job.claim_run(
        "b2connect",
        "production",
        sandbox=False,
        owner="job pid 1",
        ttl=15.0,
        new=record("j1", service="b2connect"),
    )
    assert claim.driver and claim.created
    keeper = job.keep_lease("j1", "job pid 1", 15.0)
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    pushed: list[int] = []
    stop_follow = viewer.follow("j1", lambda: pushed.append(1))
    job.append_event("j1", ev.Notice(ts=t0, phase=Phase.PRODUCTION, level="info", message="hi"))
    job.save_state("j1", {"phase": "production"}, t0)
    job.audit("j1", "job", "start")
    job.sign_off("j1", "review", "job", t0)
    job.flush()
    # The watch reports each ConfigMap as it arrives (the run's record may come before its
    # events): wait until the viewer's cache holds the event, pushed by the watch.
    wait_until(
        lambda: [e.message for _, e in viewer.events("j1")] == ["hi"],  # type: ignore[attr-defined]
        10,
        "the viewer's watch to bring the event",
    )
    assert pushed

    got: list[Intent] = []
    stop_serving = KubeIntents(job, "b2connect", "production").serve("j1", got.append)
    as_ops = KubeIntents(ops, "b2connect", "production")
    as_viewer = KubeIntents(viewer, "b2connect", "production")
    assert KubeIntents(job, "b2connect", "production").user == (
        f"system:serviceaccount:{kube_ns}:b2tui-job"
    )
    assert as_ops.user == "tester" and as_ops.why_not() is None
    assert as_viewer.why_not() is not None
    wait_until(
        lambda: realkube.get("v1", "ConfigMap", kube_ns, as_ops.name) is not None, 10, "inbox"
    )
    as_ops.submit(Intent("j1", "pause", as_ops.user))
    wait_until(lambda: bool(got), 10, "the driver to claim the operator's intent")
    assert (got[0].action, got[0].user) == ("pause", "tester")
    with pytest.raises(SourceError, match="forbidden"):
        as_viewer.submit(Intent("j1", "rollback", "nobody"))

    job.finish_run("j1", "succeeded", "", t0)
    keeper.stop()
    assert keeper.failing is None and keeper.lost is None
    job.release_lease("j1")
    assert job.lease("j1") is None, "released: no holder"
    assert [r.outcome for r in viewer.runs()] == ["succeeded"]
    stop_serving()
    stop_follow()
    for s in (job, ops, viewer):
        s.close()
