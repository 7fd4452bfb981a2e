"""The cluster's sign-off inboxes, pure parts: who a sender of a role's inbox is, and the
Roles and RoleBindings ``b2tui rbac`` renders for ``[roles]``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from b2tui import cli
from b2tui.adapters.kube_store.objects import sign_inbox_name, signoff_rbac
from b2tui.domain.checklist import READINESS_ITEMS, RunConditions, build_checklist
from b2tui.domain.people import Person, Roles, SignContext, sign_refusal

ROLES = Roles(
    {"reviewer": ("kube-group:devs",), "tech-lead": ("dave", "kube-group:leads")},
    configured=True,
)


def _item(key: str):  # type: ignore[no-untyped-def]
    items = build_checklist(READINESS_ITEMS, RunConditions(direct=True))
    return next(i for i in items if i.key == key)


def test_a_sender_of_a_roles_inbox_holds_that_role_and_no_other() -> None:
    # erin claims to be dave (a tech lead by name): through the reviewers' inbox she
    # holds the reviewer role alone, whatever name her client wrote.
    erin = Person("dave", "dave (RBAC: role reviewer)", inbox_role="reviewer")
    ctx = SignContext(roles=ROLES)
    assert sign_refusal(_item("review_approved"), erin, ctx) is None
    refused = sign_refusal(_item("tech_lead_approval"), erin, ctx)
    assert refused is not None and "role tech-lead may sign: dave, kube-group:leads" in refused
    assert ROLES.roles_of(erin) == ["reviewer"]


def test_rbac_has_one_role_per_inbox_bound_to_its_groups_and_users() -> None:
    members = {"reviewer": ("kube-group:devs", "group:unix"), "tech-lead": ("dave",), "qa": ()}
    docs = signoff_rbac(members, "shop", "production", "b2connect")
    inbox = sign_inbox_name("shop", "production", "reviewer")
    assert inbox == "b2tui-sign-shop-production-reviewer"
    role, binding = docs[0], docs[1]
    assert role["kind"] == "Role" and role["metadata"]["name"] == inbox
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [inbox],
            "verbs": ["get", "patch"],
        }
    ]
    assert binding["kind"] == "RoleBinding" and binding["roleRef"]["name"] == inbox
    # A Unix group means nothing to the API server: not bound.
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("Group", "devs")]
    # tech-lead names a user: the role's group inbox has nobody, dave has his own inbox.
    assert [(d["kind"], d["metadata"]["name"]) for d in docs[2:5]] == [
        ("Role", "b2tui-sign-shop-production-tech-lead"),
        ("Role", "b2tui-sign-shop-production-tech-lead.dave"),
        ("RoleBinding", "b2tui-sign-shop-production-tech-lead.dave"),
    ]
    assert docs[3]["rules"][0]["resourceNames"] == ["b2tui-sign-shop-production-tech-lead.dave"]
    assert [(s["kind"], s["name"]) for s in docs[4]["subjects"]] == [("User", "dave")]
    # A role with nobody the cluster knows: its Role, no binding (nobody signs there).
    assert [d["kind"] for d in docs[5:]] == ["Role"]
    assert {d["metadata"]["namespace"] for d in docs} == {"b2connect"}


def test_b2tui_rbac_prints_the_roles_of_the_config_and_refuses_without_roles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = (
        '[service]\nname = "shop"\n[store]\nbackend = "kube"\nnamespace = "apps"\n'
        '[environments.production]\nnamespace = "p"\n'
    )
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        base + '[roles]\nreviewer = ["kube-group:devs"]\ndevops-engineer = ["ana"]\n'
        'security-engineer = ["kube-group:sec"]\ntech-lead = ["kube-group:leads"]\n'
        'qa-engineer = ["kube-group:qa"]\n'
    )
    capsys.readouterr()
    assert cli.main(["rbac", "--config", str(cfg)]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = [
        (d["kind"], d["metadata"]["name"].removeprefix("b2tui-sign-shop-production-")) for d in docs
    ]
    assert kinds == [
        ("Role", "reviewer"),
        ("RoleBinding", "reviewer"),
        ("Role", "devops-engineer"),
        ("Role", "devops-engineer.ana"),
        ("RoleBinding", "devops-engineer.ana"),
        *[
            (k, r)
            for r in ("security-engineer", "tech-lead", "qa-engineer")
            for k in ("Role", "RoleBinding")
        ],
    ]
    assert docs[0]["metadata"] == {
        "name": "b2tui-sign-shop-production-reviewer",
        "namespace": "apps",
        "labels": {"app.kubernetes.io/managed-by": "b2tui"},
    }
    cfg.write_text(base)
    assert cli.main(["rbac", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no [roles] in" in err[0], err
