"""Operator intents applied to a run: refuse (and say why), or act and record it.

The refusals themselves are pure (:mod:`b2tui.engine.intents`); :class:`OperatorIntents`,
the conductor's collaborator, applies an accepted intent: it writes the audit entry and
the ``operator`` event at once through the :class:`~b2tui.engine.journal.RunJournal`,
changes the run's state, and wakes the run loop.
Slow work (a rollback's API calls) starts as a task, so the screen can say so in the same
frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.canary import next_weight, previous_weight
from b2tui.domain.gates import GateStatus
from b2tui.domain.people import Person, SignContext, person_named, sign_refusal
from b2tui.domain.phases import Outcome, Phase
from b2tui.engine import checklist, intents
from b2tui.engine.api import Action, IntentResult
from b2tui.engine.context import RunContext
from b2tui.engine.journal import RunJournal


class OperatorIntents:
    """The :class:`~b2tui.engine.api.RunSession` intents of the driving process.

    Args:
        settings: the configuration (roles for sign-offs).
        env: the production environment (its canary steps).
        journal: the run's record: audit entries, events, state.
        context: the run's steps (pause, checklist, notices, beginning a rollback).
        people: audit name → person, for every name this process vouched for.
        stop_phase: cancels the running phase (an abort before production).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        env: EnvironmentSettings,
        journal: RunJournal,
        context: RunContext,
        people: dict[str, Person],
        stop_phase: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.env = env
        self.journal = journal
        self.store = journal.store
        self.clock = journal.clock
        self.context = context
        self.people = people
        self.stop_phase = stop_phase
        self._untrusted = 0

    @property
    def unsaved(self) -> str | None:
        return self.journal.unsaved

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        st = self.journal.state
        held = self.unsaved and st is not None and st.outcome is None
        if held and action in (Action.ADVANCE, Action.CANARY_UP):
            return f"the state cannot be saved ({self.unsaved}) — promotion held"
        return intents.why_not(
            st, self.journal.view, action, item, steps=self.env.canary_steps, now=self.clock.now()
        )

    def _intent(self, action: str, user: str, detail: str, refusal: str | None) -> IntentResult:
        st = self.journal.state
        now = self.clock.now()
        accepted = refusal is None
        message = detail if accepted else refusal or ""
        self.journal.write(
            partial(
                self.store.audit,
                st.run_id if st else None,
                user,
                action,
                message,
                accepted=accepted,
                run_ts=now,
            )
        )
        if st is not None:
            self.journal.emit(
                ev.OperatorActed(
                    ts=now,
                    phase=st.phase,
                    user=user,
                    action=action,
                    detail=message,
                    accepted=accepted,
                )
            )
        return IntentResult(accepted, message)

    def advance(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.ADVANCE)
        if refusal is None:
            st = self.journal.st
            st.advance_requested = True
            self.journal.save()
            self.journal.wake.set()
            what = st.awaiting or (
                f"promote to {next_weight(self.env.canary_steps, st.canary_percent)}%"
                if st.phase is Phase.PRODUCTION
                else "advance"
            )
            return self._intent("advance", user, what, None)
        return self._intent("advance", user, "", refusal)

    def step_canary(self, delta: int, user: str) -> IntentResult:
        if delta > 0:
            refusal = self.why_not(Action.CANARY_UP)
            if refusal is not None:
                return self._intent("canary+", user, "", refusal)
            st = self.journal.st
            nxt = next_weight(self.env.canary_steps, st.canary_percent)
            return self._set_percent("canary+", user, nxt or 100)
        refusal = self.why_not(Action.CANARY_DOWN)
        if refusal is not None:
            return self._intent("canary-", user, "", refusal)
        prev = previous_weight(self.env.canary_steps, self.journal.st.canary_percent)
        return self._set_percent("canary-", user, prev)

    def set_canary(self, percent: int, user: str) -> IntentResult:
        st = self.journal.state
        if st is None or not 0 <= percent <= 100:
            return self._intent("set-canary", user, "", "percent must be 0–100")
        if percent < st.canary_percent:
            refusal = self.why_not(Action.CANARY_DOWN)
        else:
            refusal = self.why_not(Action.CANARY_UP) or intents.canary_limit(
                st, percent, self.env.canary_steps
            )
        if refusal is not None:
            return self._intent("set-canary", user, "", refusal)
        return self._set_percent("set-canary", user, percent)

    def _set_percent(self, action: str, user: str, percent: int) -> IntentResult:
        st = self.journal.st
        st.requested_percent = percent
        self.journal.save()
        self.journal.wake.set()
        return self._intent(action, user, f"canary {st.canary_percent}% → {percent}%", None)

    def toggle_pause(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.PAUSE)
        if refusal is not None:
            return self._intent("pause", user, "", refusal)
        st = self.journal.st
        if st.paused:
            self.context.set_pause(False, f"resumed by {user}")
            if (
                st.tracker("canary").consecutive_unknowns
                or st.tracker("service").last is GateStatus.UNKNOWN
            ):
                self.context.notice(
                    "warn",
                    "resumed while gates are unknown: promotion still waits for a green sample",
                )
            result = self._intent("resume", user, "run resumed", None)
        else:
            self.context.set_pause(True, f"paused by {user}")
            result = self._intent("pause", user, "run paused: no promotion until resumed", None)
        self.journal.wake.set()
        return result

    def vouch(self, person: Person) -> None:
        """Record who ``person.display`` is (a peer the OS named): their sign-offs are
        judged on this person's account and groups."""
        self.people[person.display] = person

    def person_of(self, user: str) -> Person:
        """The person behind an audit name: vouched for by this process, or (a cluster
        user name, a test's operator) unverified."""
        if self._untrusted:
            return person_named(user)
        return self.people.get(user) or person_named(user)

    @contextlib.contextmanager
    def untrusted_names(self) -> Iterator[None]:
        """Apply intents whose sender's name is the sender's own claim (the cluster's inbox):
        inside, no name resolves to a person this process vouched for, so an intent that
        writes ``bob@host`` is not taken for the local bob."""
        self._untrusted += 1
        try:
            yield
        finally:
            self._untrusted -= 1

    def sign_context(self) -> SignContext:
        st = self.journal.st
        return SignContext(
            roles=self.settings.roles,
            authors=frozenset(st.authors),
            author_emails=tuple(st.author_emails),
            starter=st.starter or None,
        )

    def sign_refusal(self, item: str, user: str) -> str | None:
        """Why ``user`` may not sign ``item`` now (state, roles, four eyes), or None."""
        refusal = self.why_not(Action.SIGN_OFF, item)
        if refusal is not None:
            return refusal
        found = next((i for i in self.journal.st.items() if i.key == item), None)
        if found is None:  # pragma: no cover - why_not names a missing item
            return f"no checklist item {item!r}"
        return sign_refusal(found, self.person_of(user), self.sign_context())

    def sign_off(self, item: str, user: str) -> IntentResult:
        refusal = self.sign_refusal(item, user)
        if refusal is not None:
            return self._intent("sign-off", user, item, refusal)
        now = self.clock.now()
        account = self.person_of(user).name
        self.journal.write(partial(self.store.sign_off, self.journal.st.run_id, item, user, now))
        title = checklist.update(self.context, item, lambda i: i.signed(user, now, account))
        self.journal.wake.set()
        done = next((i for i in self.journal.st.items() if i.key == item), None)
        if done is not None and done.signers > 1 and len(done.signatures) < done.signers:
            what = f"{title} signed ({len(done.signatures)} of {done.signers})"
            return self._intent("sign-off", user, what, None)
        return self._intent("sign-off", user, f"{title} signed off", None)

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        refusal = self.why_not(Action.ROLLBACK)
        if refusal is not None:
            return self._intent("rollback", user, "", refusal)
        self.context.begin_rollback(f"{reason} by {user}", user)
        target = self.journal.st.target
        return self._intent("rollback", user, f"rolling back to {target.describe()}", None)

    def abort(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.ABORT)
        if refusal is not None:
            return self._intent("abort", user, "", refusal)
        st = self.journal.st
        reason = f"aborted by {user}"
        if st.production_touched:
            self.context.begin_rollback(reason, user)
            target = st.target
            return self._intent(
                "abort", user, f"production touched: rolling back to {target.describe()}", None
            )
        result = self._intent("abort", user, "run aborted: production untouched", None)
        self.journal.finish(Outcome.ABORTED, reason)
        self.stop_phase()
        return result
