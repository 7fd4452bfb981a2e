"""Sign-offs through each role's inbox on the real control plane: RBAC decides who signs.

The driver (ServiceAccount ``driver2``) runs with ``[roles]``; ``b2tui rbac`` renders the
Roles that let only each role's Kubernetes group patch its inbox, applied as a cluster
admin would. ``dave`` (group ``leads``) is refused by the API server (403) when he signs
the reviewer's item, and the driver never sees it; ``erin`` (group ``devs``, the
reviewers) signs it and the driver's checklist shows her; a sign-off of another role's
item put into the reviewers' inbox is refused by the driver and audited.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import yaml

from b2tui import cli
from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeStore
from b2tui.adapters.kube_store.objects import sign_inbox_name
from b2tui.cli.follow import follower
from b2tui.cli.loading import load
from b2tui.engine.api import Action
from b2tui.ui.app import make_app
from b2tui.ui.widgets.checklist import ChecklistPanel
from tests.realkube.attach import driver_process, grant, run_state, two_kubeconfigs, until
from tests.realkube.cluster import RealKube

pytestmark = pytest.mark.integration

ROLES = {
    "devops-engineer": ["kube-group:deployers", "erin"],
    "reviewer": ["kube-group:devs"],
    "security-engineer": ["kube-group:security"],
    "tech-lead": ["kube-group:leads"],
    "qa-engineer": ["kube-group:qa"],
    "code-author": ["kube-group:devs"],
}
WATCHER_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
]


def _config(tmp_path: Path, ns: str) -> Path:
    """The b2tui.toml the signers use: the service, the kube store, the same [roles]."""
    roles = "\n".join(f"{r} = {json.dumps(m)}" for r, m in ROLES.items())
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        f'[service]\nname = "b2connect"\n[store]\nbackend = "kube"\nnamespace = "{ns}"\n'
        '[environments.staging]\nnamespace = "s"\n[environments.production]\nnamespace = "p"\n'
        f"[roles]\n{roles}\n"
    )
    return cfg


def _item(kube: RealKube, ns: str, key: str) -> dict:
    return next((i for i in run_state(kube, ns).get("checklist", []) if i["key"] == key), {})


def _wait(what: str, cond, proc, log: Path, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what} (driver exit {proc.poll()}):\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.1)


def test_only_the_roles_group_signs_through_its_inbox_rbac_refuses_the_rest(
    realkube: RealKube,
    kube_ns: str,
    tmp_path: Path,
    procs: list,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, driver = two_kubeconfigs(realkube, kube_ns, tmp_path)
    cfg = _config(tmp_path, kube_ns)
    # What the cluster admin applies: `b2tui rbac` for the sign-off inboxes, and a viewer
    # Role for the people (they follow the run; they may not act through the main inbox).
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(["rbac", "--config", str(cfg)]) == 0
    rendered = capsys.readouterr().out
    for doc in yaml.safe_load_all(rendered):
        realkube.apply(doc, kube_ns)
    for group in ("devs", "leads"):
        subject = {"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}
        grant(realkube, kube_ns, f"b2tui-viewer-{group}", WATCHER_RULES, subject)

    log = tmp_path / "driver.log"
    roles = json.dumps(ROLES)
    procs.append(driver_process(driver, kube_ns, "driver", 10.0, log, extra=("--roles", roles)))
    reviewers = sign_inbox_name("b2connect", "production", "reviewer")
    _wait(
        "review_approved to wait for its people",
        lambda: (
            _item(realkube, kube_ns, "review_approved").get("state") == "pending"
            and realkube.get("v1", "ConfigMap", kube_ns, reviewers) is not None
        ),
        procs[0],
        log,
    )
    run_id = run_state(realkube, kube_ns)["run_id"]

    # dave (group leads) signs the reviewer's item: b2tui asks the API server first and
    # says no; the raw write is refused by the API server itself (403).
    monkeypatch.setenv("KUBECONFIG", str(realkube.write_kubeconfig(tmp_path / "d", user="dave")))
    capsys.readouterr()
    assert cli.main(["sign", "review_approved", "--config", str(cfg), "--json"]) == 1
    said = json.loads(capsys.readouterr().out)
    assert not said["accepted"]
    assert (
        "role reviewer may sign: kube-group:devs; dave may not: RBAC does not let them patch"
        f" configmap {reviewers}" in said["message"]
    )
    forged = {"run_id": run_id, "action": "sign_off", "arg": "review_approved", "user": "erin"}
    r = realkube.client("dave").patch(
        f"/api/v1/namespaces/{kube_ns}/configmaps/{reviewers}",
        content=json.dumps({"data": {"i1-forged": json.dumps(forged)}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 403, r.text
    inbox = realkube.get("v1", "ConfigMap", kube_ns, reviewers)
    assert inbox is not None and not inbox.get("data"), "nothing reached the inbox"

    # erin (group devs) signs it with `b2tui sign`: the driver takes it from the
    # reviewers' inbox and its checklist shows her.
    monkeypatch.setenv("KUBECONFIG", str(realkube.write_kubeconfig(tmp_path / "e", user="erin")))
    capsys.readouterr()
    assert cli.main(["sign", "review_approved", "--config", str(cfg), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["accepted"] and said["user"] == "erin", said
    _wait(
        "erin's sign-off in the driver's checklist",
        lambda: _item(realkube, kube_ns, "review_approved").get("state") == "passed",
        procs[0],
        log,
    )
    assert (
        _item(realkube, kube_ns, "review_approved")["signed_by"]
        == "erin (RBAC: role reviewer, name as sent)"
    )

    # A sign-off of another role's item put into the reviewers' inbox (as a modified
    # client would): the driver takes it as the reviewer role's and refuses it, audited.
    erin = realkube.client("erin")
    sneaky = {"run_id": run_id, "action": "rollback", "arg": "rollback_plan", "user": "erin"}
    r = erin.patch(
        f"/api/v1/namespaces/{kube_ns}/configmaps/{reviewers}",
        content=json.dumps({"data": {"i2-other-role": json.dumps(sneaky)}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    store = KubeStore(connect(str(driver), None), kube_ns)

    def audited() -> list[tuple[str, str, str, bool]]:
        return [(e.user, e.action, e.detail, e.accepted) for e in store.audit_log(run_id)]

    _wait(
        "the driver's refusal in the audit log",
        lambda: any(a[1] == "sign-off" and not a[3] for a in audited()),
        procs[0],
        log,
    )
    refused = next(a for a in audited() if a[1] == "sign-off" and not a[3])
    assert refused[0] == "erin (RBAC: role reviewer, name as sent)"
    assert "role devops-engineer may sign" in refused[2], refused
    assert ("erin (RBAC: role reviewer, name as sent)", "sign-off", True) in [
        (u, a, ok) for u, a, _, ok in audited()
    ]
    assert not any(u.startswith("dave") for u, *_ in audited()), "the driver never saw dave"
    assert _item(realkube, kube_ns, "rollback_plan").get("state") == "pending"
    assert run_state(realkube, kube_ns).get("rollback") is None, "a role inbox only signs"

    # erin is named in devops-engineer: she has an inbox of her own, which RBAC lets her
    # alone write, so the name the driver records is the API server's, not her client's.
    own = sign_inbox_name("b2connect", "production", "devops-engineer", "erin")
    forged = {"run_id": run_id, "action": "sign_off", "arg": "rollback_plan", "user": "dave"}
    assert (
        realkube.client("dave")
        .patch(
            f"/api/v1/namespaces/{kube_ns}/configmaps/{own}",
            content=json.dumps({"data": {"i3-not-dave": json.dumps(forged)}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        .status_code
        == 403
    )
    r = erin.patch(
        f"/api/v1/namespaces/{kube_ns}/configmaps/{own}",
        content=json.dumps({"data": {"i4-as-dave": json.dumps(forged)}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    _wait(
        "erin's sign-off from her own inbox",
        lambda: _item(realkube, kube_ns, "rollback_plan").get("state") == "passed",
        procs[0],
        log,
    )
    assert _item(realkube, kube_ns, "rollback_plan")["signed_by"] == (
        "erin (RBAC: role devops-engineer)"
    )

    # An attached control room of dave's: space is bound (sign-offs go by role) but the
    # reviewer's item is refused with the RBAC line, before anything is written.
    settings = load(str(cfg))
    dave = KubeStore(connect(str(tmp_path / "d"), None), kube_ns)
    session = follower(dave, settings, "production", run_id)
    assert session.read_only and session.can_sign
    assert "role reviewer may sign: kube-group:devs; dave may not" in (
        session.why_not(Action.SIGN_OFF, "review_approved") or ""
    )
    assert session.why_not(Action.ROLLBACK) is not None
    dave.close()

    # frank (group devs, so code-author here) presses space on "Documentation updated" in
    # an attached control room: it goes to the code-author inbox and the driver signs it.
    frank = KubeStore(
        connect(str(realkube.write_kubeconfig(tmp_path / "f", user="frank")), None), kube_ns
    )
    room = follower(frank, settings, "production", run_id)
    app = make_app(settings, room, clock=room.clock, runner=room.follow, user=room.user)

    async def sign_in_the_room() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "docs_updated" in room.view.checks, "the checklist", 30)
            await pilot.press("3")
            checklist = app.query_one(ChecklistPanel)
            for _ in range(20):
                if checklist.selected_item == "docs_updated":
                    break
                await pilot.press("down")
            assert checklist.selected_item == "docs_updated"
            await pilot.press("space")
            await until(
                pilot,
                lambda: room.view.checks["docs_updated"].state == "passed",
                "frank's sign-off back from the driver",
                60,
            )

    asyncio.run(sign_in_the_room())
    assert _item(realkube, kube_ns, "docs_updated")["signed_by"] == (
        "frank (RBAC: role code-author, name as sent)"
    )
    frank.close()
    store.close()
