"""Who may sign what: the pure refusal (roles, four eyes, several signers) and the
``[roles]`` / ``[people]`` / ``[[readiness.items]]`` tables with file:line errors."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

import pytest

from b2tui import cli
from b2tui.config import ConfigError, parse_settings
from b2tui.domain.checklist import (
    READINESS_ITEMS,
    ChecklistItem,
    ItemKind,
    ItemState,
    RunConditions,
    build_checklist,
)
from b2tui.domain.people import Person, Roles, SignContext, person_named, sign_refusal

AT = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
ROLES = Roles(
    {
        "reviewer": ("alice", "group:dev"),
        "tech-lead": ("dave", "kube-group:leads"),
        "security-engineer": ("carol",),
    },
    configured=True,
)


def person(name: str, *groups: str, kube: tuple[str, ...] = (), verified: bool = True) -> Person:
    return Person(name, f"{name}@host", frozenset(groups), frozenset(kube), verified)


def item(key: str) -> ChecklistItem:
    items = build_checklist(READINESS_ITEMS, RunConditions(pii=True, direct=True))
    return next(i for i in items if i.key == key)


def test_a_role_member_may_sign_and_others_are_told_who_may() -> None:
    review = item("review_approved")
    ctx = SignContext(roles=ROLES)
    assert sign_refusal(review, person("alice"), ctx) is None
    assert sign_refusal(review, person("erin", "dev"), ctx) is None  # by Unix group
    why = sign_refusal(review, person("bob"), ctx)
    assert why == (
        "Code review approved: role reviewer may sign: alice, group:dev; you (bob) are not in it"
    )


def test_kube_groups_count_only_when_the_name_is_verified() -> None:
    lead = item("tech_lead_approval")
    ctx = SignContext(roles=ROLES)
    assert sign_refusal(lead, person("zed", kube=("leads",)), ctx) is None
    why = sign_refusal(lead, person("dave", verified=False), ctx)
    assert why is not None and "not verified" in why


def test_without_roles_anyone_may_sign() -> None:
    assert sign_refusal(item("security_approved"), person("bob"), SignContext()) is None


def test_the_author_of_the_deployed_commits_cannot_approve_its_review() -> None:
    ctx = SignContext(roles=ROLES, authors=frozenset({"alice"}), author_emails=("a@x.org",))
    why = sign_refusal(item("review_approved"), person("alice"), ctx)
    assert why == (
        "Code review approved: you (alice) wrote the deployed commits (a@x.org); someone else"
        " must sign it (role reviewer may sign: alice, group:dev)"
    )
    # Also without [roles]: four eyes are not a matter of configuration.
    assert sign_refusal(item("review_approved"), person("alice"), SignContext(authors=ctx.authors))
    assert sign_refusal(item("review_approved"), person("erin", "dev"), ctx) is None


def test_the_starter_cannot_approve_their_own_emergency() -> None:
    ctx = SignContext(roles=ROLES, starter="dave")
    why = sign_refusal(item("tech_lead_approval"), person("dave"), ctx)
    assert why is not None and "you (dave) started this run" in why
    assert sign_refusal(item("tech_lead_approval"), person("zed", kube=("leads",)), ctx) is None


def test_two_signers_must_be_two_different_people() -> None:
    two = ChecklistItem("oncall", "On-call team aware", ItemKind.MANUAL, "@sre", signers=2)
    ctx = SignContext()
    once = two.signed("alice@host", AT, "alice")
    assert once.state is ItemState.PENDING and once.signatures == ("alice",)
    why = sign_refusal(once, person("alice"), ctx)
    assert (
        why
        == "On-call team aware: you (alice) signed it already; it needs 2 different people (1 of 2)"
    )
    twice = once.signed("bob@host", AT, "bob")
    assert twice.state is ItemState.PASSED and twice.signed_by == "alice@host, bob@host"


def test_an_unknown_automatic_item_is_signable_only_by_its_role() -> None:
    tests = item("tests_passing")
    ctx = SignContext(roles=Roles({"devops-engineer": ("alice",)}, configured=True))
    assert sign_refusal(tests, person("alice"), ctx) is None
    why = sign_refusal(tests, person("bob"), ctx)
    assert why is not None and "role devops-engineer may sign: alice" in why


def test_code_author_role_is_held_by_the_authors() -> None:
    docs = item("docs_updated")  # owner "code author"
    ctx = SignContext(roles=ROLES, authors=frozenset({"bob"}))
    assert sign_refusal(docs, person("bob"), ctx) is None
    why = sign_refusal(docs, person("carol"), ctx)
    assert why is not None and "role code-author may sign: bob" in why


def test_a_name_nothing_vouched_for_holds_no_role() -> None:
    p = person_named("dave@jump (sudo from eve)")
    assert p.name == "dave" and not p.verified
    assert not ROLES.holds(p, "tech-lead")


ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name

TEAM = f"""
[roles]
devops-engineer = ["{ME}", "group:{MY_GROUP}"]
reviewer = ["{ME}"]
product = ["{ME}"]
qa-engineer = ["{ME}"]

[people]
"Me@Example.org" = "{ME}"

[[readiness.items]]
key = "tests_passing"

[[readiness.items]]
key = "review_approved"

[[readiness.items]]
key = "customer_notified"
title = "Customer notification sent"
role = "product"
required_if = "major-feature"

[[readiness.items]]
key = "oncall_aware"
title = "On-call team aware"
role = "devops-engineer"
signers = 2

[[readiness.items]]
key = "coverage"
title = "Coverage >= 80 %"
role = "devops-engineer"
kind = "command"
command = "test $(cat coverage.txt) -ge 80"

[environments.production]
namespace = "p"
"""


def test_the_teams_checklist_replaces_the_built_in_one() -> None:
    s = parse_settings(TEAM)
    assert s.roles.configured and s.people == {"me@example.org": ME}
    specs = s.readiness.items
    assert specs is not None
    assert [i.key for i in specs] == [
        "tests_passing",
        "review_approved",
        "customer_notified",
        "oncall_aware",
        "coverage",
    ]
    by = {i.key: i for i in specs}
    assert by["tests_passing"].kind is ItemKind.AUTOMATIC and by["tests_passing"].check == ""
    assert by["review_approved"].not_by == ("author",) and by["review_approved"].role == "reviewer"
    assert by["oncall_aware"].signers == 2
    assert by["coverage"].check == "command" and by["coverage"].target.startswith("test ")
    plain = build_checklist(specs, RunConditions())
    assert not next(i for i in plain if i.key == "customer_notified").required
    major = build_checklist(specs, RunConditions(flags=frozenset({"major-feature"})))
    assert next(i for i in major if i.key == "customer_notified").required


@pytest.mark.parametrize(
    ("fragment", "line", "message"),
    [
        ("[roles]\nops = []\n", 2, "roles.ops is empty"),
        (
            '[roles]\nops = ["group:no-such-group-b2"]\n',
            2,
            "group 'no-such-group-b2' does not exist",
        ),
        ('[roles]\nops = ["no-such-user-b2"]\n', 2, "user 'no-such-user-b2' does not exist"),
        (
            f'[roles]\nops = ["{ME}"]\n\n[[readiness.items]]\nkey = "x"\ntitle = "X"\n'
            'role = "qa"\n',
            7,
            "role 'qa' is not in [roles]",
        ),
        (
            '[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "a"\n\n'
            '[[readiness.items]]\nkey = "x"\ntitle = "Y"\nrole = "a"\n',
            7,
            "key 'x' is used twice (first at line 2)",
        ),
        ('[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "a"\nsigners = 0\n', 5, "signers"),
        (
            '[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "a"\nkind = "command"\n',
            1,
            "command",
        ),
    ],
)
def test_bad_people_tables_name_file_and_line(fragment: str, line: int, message: str) -> None:
    text = fragment + '\n[environments.production]\nnamespace = "p"\n'
    with pytest.raises(ConfigError) as e:
        parse_settings(text, "t.toml")
    assert any(p.startswith(f"t.toml:{line}:") and message in p for p in e.value.problems), (
        e.value.problems
    )


def test_kube_store_roles_are_not_looked_up_on_this_host() -> None:
    s = parse_settings(
        '[store]\nbackend = "kube"\n[roles]\nqa-engineer = ["dana", "kube-group:leads"]\n'
        '[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "qa-engineer"\n'
        '[environments.production]\nnamespace = "p"\n'
    )
    assert s.roles.members == {"qa-engineer": ("dana", "kube-group:leads")}


def test_a_role_the_checklist_needs_but_roles_lack_is_named() -> None:
    text = f'[roles]\nreviewer = ["{ME}"]\n\n[environments.production]\nnamespace = "p"\n'
    with pytest.raises(ConfigError) as e:
        parse_settings(text, "t.toml")
    assert (
        "t.toml:1: [roles] has no role 'tech-lead', which tech_lead_approval needs: add"
        ' tech-lead = ["user", "group:NAME"] (nobody could sign it otherwise)'
    ) in e.value.problems


def test_an_unknown_automatic_item_with_two_signers_stays_signable_after_one() -> None:
    from b2tui.engine.intents import signable

    tests = dataclasses.replace(item("tests_passing"), signers=2, detail="unknown: no CI")
    assert signable(tests)
    once = tests.signed("bo@host", AT, "bo")
    assert once.state is ItemState.PENDING and signable(once)
    assert once.signed("cy@host", AT, "cy").state is ItemState.PASSED


OTHER = next(p.pw_name for p in pwd.getpwall() if p.pw_name != ME and p.pw_gid != os.getgid())
"""An account of this host in none of the roles below."""

ALL_ROLES = "".join(
    f'{r} = ["{ME}"]\n'
    for r in ("devops-engineer", "reviewer", "security-engineer", "tech-lead", "qa-engineer")
)


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        # an unknown role in an item
        ('\n[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "qa"\n', 11, "role 'qa' is not"),
        # a user in no role
        (f'\n[people]\n"o@example.org" = "{OTHER}"\n', 9, f"{OTHER} is in no role of [roles]"),
        # an empty role
        ("product = []\n", 7, "roles.product is empty"),
        # a group that does not exist on this host
        ('product = ["group:no-such-group-b2"]\n', 7, "group 'no-such-group-b2' does not"),
        # two items with one key
        (
            '\n[[readiness.items]]\nkey = "x"\ntitle = "X"\nrole = "reviewer"\n'
            '\n[[readiness.items]]\nkey = "x"\ntitle = "Y"\nrole = "reviewer"\n',
            14,
            "key 'x' is used twice (first at line 9)",
        ),
    ],
)
def test_check_config_names_one_file_line_for_each_bad_people_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, line: int, message: str
) -> None:
    """The issue's bad inputs, through `b2tui check-config`: one line, exit 2."""
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        "[roles]\n" + ALL_ROLES + extra + '\n[environments.production]\nnamespace = "p"\n'
    )
    capsys.readouterr()
    assert cli.main(["check-config", str(cfg)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{cfg}:{line}: ") and message in lines[0], lines


def test_a_people_account_in_a_roles_unix_group_is_in_that_role() -> None:
    by_group = ALL_ROLES.replace(f'"{ME}"', f'"group:{MY_GROUP}"')
    text = (
        f'[roles]\n{by_group}[people]\n"me@example.org" = "{ME}"\n'
        '[environments.production]\nnamespace = "p"\n'
    )
    assert parse_settings(text).people == {"me@example.org": ME}


def test_with_the_kube_store_a_kube_group_may_hold_any_people_account() -> None:
    roles = 'reviewer = ["kube-group:devs"]\n' + ALL_ROLES.replace('reviewer = ["', '# ["')
    text = (
        f'[store]\nbackend = "kube"\n[roles]\n{roles}[people]\n"x@example.org" = "zed"\n'
        '[environments.production]\nnamespace = "p"\n'
    )
    assert parse_settings(text).people == {"x@example.org": "zed"}
