"""Roles in a run: autopilot signs only what its identity may, says who is awaited, and
a person with the role signs the rest; refusals are audited; without [roles] a real run
says once that anyone may sign."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from b2tui.domain import events as ev
from b2tui.domain.people import Person, Roles
from b2tui.domain.phases import Outcome, Phase
from b2tui.engine.api import Action
from tests.engine.conftest import Rig, settings_for

Make = Callable[..., Rig]
ANA = Person("ana", "ana@jump", frozenset({"ops"}))
BO = Person("bo", "bo@jump", frozenset())


def notices(rig: Rig) -> list[str]:
    return [e.message for e in rig.of(ev.Notice)]


async def test_autopilot_signs_only_its_roles_and_says_who_is_awaited(make_rig: Make) -> None:
    roles = Roles(
        {
            "devops-engineer": ("group:ops",),
            "code-author": ("group:ops",),
            "reviewer": ("bo",),
        },
        configured=True,
    )
    settings = dataclasses.replace(settings_for(), roles=roles)
    rig = make_rig("happy", autopilot=True, settings=settings)
    c = rig.conductor
    c.people["ana@jump"] = ANA
    c.people["sandbox"] = dataclasses.replace(ANA, display="sandbox")
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: any("awaiting Code review approved" in n for n in _n(v)))
    checks = c.view.checks
    assert checks["docs_updated"].state == "passed" and checks["docs_updated"].by == "sandbox"
    assert checks["rollback_plan"].state == "passed"
    assert checks["review_approved"].state == "pending"
    awaited = [n for n in notices(rig) if n.startswith("awaiting")]
    assert awaited == [
        "awaiting Code review approved: role reviewer may sign: bo; you (ana) are not in it"
        " — they sign with `b2tui sign review_approved`"
    ]
    # Autopilot's own refusal is not audited over and over: it never tried.
    assert not [a for a in rig.store.audit_log(c.run_id) if not a.accepted]
    # Someone outside the role is refused, audited; bo signs and the run goes on.
    c.vouch(Person("cy", "cy@jump"))
    refused = c.sign_off("review_approved", "cy@jump")
    assert not refused.accepted and "role reviewer may sign: bo" in refused.message
    c.vouch(BO)
    assert c.sign_off("review_approved", "bo@jump").accepted
    audit = [(a.user, a.action, a.accepted) for a in rig.store.audit_log(c.run_id)]
    assert ("cy@jump", "sign-off", False) in audit and ("bo@jump", "sign-off", True) in audit
    rig.clock.release()
    await c.run_until(lambda v: v.phase is not Phase.READINESS)
    await c.stop()


def _n(v) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.last_notice.message] if v.last_notice is not None else []


async def test_the_starter_of_an_emergency_cannot_approve_it(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=False)
    c = rig.conductor
    await c.start(version="1a2b3c4", emergency=True)
    await c.run_until(lambda v: "tech_lead_approval" in v.checks)
    own = c.sign_off("tech_lead_approval", "ana@jump")
    assert not own.accepted and "you (ana) started this run" in own.message
    assert c.why_not(Action.ADVANCE) is not None
    assert c.sign_off("tech_lead_approval", "lee@jump").accepted
    rig.clock.release()
    c.autopilot = True
    await c.run_until(lambda v: v.outcome is not None)
    assert c.view.outcome is Outcome.SUCCEEDED


async def test_a_real_run_without_roles_says_once_that_anyone_may_sign(make_rig: Make) -> None:
    settings = dataclasses.replace(settings_for(), path="/etc/b2tui.toml")
    rig = make_rig("happy", autopilot=True, settings=settings)
    assert await (await _started(rig)).run() is Outcome.SUCCEEDED
    said = [n for n in notices(rig) if "anyone" in n]
    assert said == [
        "no [roles] in /etc/b2tui.toml: anyone who can reach this run may sign every item"
        " (README, Roles)"
    ]


async def test_the_demo_without_roles_says_it_too(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=True)  # the demo's settings: no file, no [roles]
    assert rig.conductor.settings.path is None
    assert await (await _started(rig)).run() is Outcome.SUCCEEDED
    said = [n for n in notices(rig) if "anyone" in n]
    assert said == ["no [roles]: anyone who can reach this run may sign every item (README, Roles)"]


async def _started(rig: Rig):  # type: ignore[no-untyped-def]
    await rig.conductor.start(version="1a2b3c4")
    return rig.conductor


async def test_with_a_github_token_the_review_is_asked_of_github(make_rig: Make) -> None:
    """``review_approved`` becomes automatic (GitHub's reviews); when the check cannot tell
    (here: the sandbox has no GitHub), it is signed by hand — never by its author."""
    from b2tui.config import NotifySettings, Secret

    notify = NotifySettings(github_token=Secret("env:NO_SUCH_TOKEN"), github_repo="acme/shop")
    settings = dataclasses.replace(settings_for(), notify=notify)
    rig = make_rig("happy", autopilot=False, settings=settings)
    c = rig.conductor
    await c.start(version="1a2b3c4", params={"authors": ["ana"], "author_emails": ["a@x"]})
    await c.run_until(
        lambda v: (
            "review_approved" in v.checks
            and v.checks["review_approved"].detail.startswith("unknown")
        )
    )
    review = c.view.checks["review_approved"]
    assert not review.manual and review.state == "pending"
    own = c.sign_off("review_approved", "ana@jump")
    assert not own.accepted and "you (ana) wrote the deployed commits (a@x)" in own.message
    assert c.sign_off("review_approved", "bo@jump").accepted
    await c.stop()


async def test_a_claimed_name_is_never_a_vouched_person(make_rig: Make) -> None:
    """An intent from the cluster's inbox that writes a local person's name is not that
    person: inside ``untrusted_names`` every name is unverified and holds no role."""
    roles = Roles(
        {r: ("bo",) for r in ("devops-engineer", "reviewer", "security-engineer", "tech-lead")},
        configured=True,
    )
    rig = make_rig(
        "happy", autopilot=False, settings=dataclasses.replace(settings_for(), roles=roles)
    )
    c = rig.conductor
    c.vouch(BO)
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: "review_approved" in v.checks)
    with c.untrusted_names():
        claimed = c.sign_off("review_approved", "bo@jump")
    assert not claimed.accepted and "not verified" in claimed.message
    assert c.sign_off("review_approved", "bo@jump").accepted
    await c.stop()
