"""``b2tui demo``: the control room (or a headless run) on the embedded sandbox.

A demo run lives in the store like a real one: a second ``b2tui demo`` follows it, a
killed one resumes with its sandbox world and its clock where they were."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from b2tui.cli.follow import serve_local, until_driven, watch
from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError, parse_speed
from b2tui.cli.printer import Printer
from b2tui.cli.room import exit_on_sigterm, pods_env, run_app, signalled_exit, targets, tui_exit
from b2tui.config import Settings, sandbox_settings
from b2tui.domain.people import responders
from b2tui.domain.phases import Strategy
from b2tui.ports import Notification, Notifier, RunRecord, Store

if TYPE_CHECKING:
    from b2tui.adapters.store import SqliteStore
    from b2tui.engine.watch import Watcher


def _sandbox_sha(seed: int) -> str:
    return hashlib.sha1(f"b2connect-{seed}".encode()).hexdigest()[:7]


def cmd_demo(args: argparse.Namespace) -> int:
    from b2tui.adapters.sandbox import SCENARIOS

    if args.list:
        for s in SCENARIOS.values():
            where = f" ({s.where})" if s.where else ""
            print(f"{s.name:20} → {s.outcome}{where}: {s.description}")
        return 0
    if args.scenario not in SCENARIOS:
        raise UsageError(
            f"unknown scenario {args.scenario!r}; choose one of {', '.join(SCENARIOS)}"
        )
    headless = args.headless
    if args.speed is None:
        speed = None if headless else 10.0
    else:
        speed = parse_speed(args.speed)
    if speed is None and not headless:
        raise UsageError(
            "--speed max needs --headless (the control room runs in real time; try --speed 60)"
        )
    if args.notify is not None:
        args.notify_settings = load(args.notify)
    store = open_store(args.state)
    return signalled_exit(
        asyncio.run(
            until_driven(
                lambda take_over: _demo_once(args, store, speed, headless, take_over=take_over)
            )
        )
    )


class _AlsoTo:
    """The sandbox's notifier, and real channels after it (``demo --notify FILE``)."""

    def __init__(self, first: Notifier, then: Notifier) -> None:
        self.first, self.then = first, then

    async def notify(self, note: Notification) -> list[tuple[str, bool, str]]:
        return [*await self.first.notify(note), *await self.then.notify(note)]


def _real_channels(settings: Settings) -> Notifier:
    """``[notify]`` of ``--notify FILE`` without the changelog and GitHub issues: a demo
    must not write a CHANGELOG or close issues."""
    from b2tui.adapters.http import WebhookNotifier

    notify = dataclasses.replace(settings.notify, changelog=None, github_token=None)
    paged = responders(settings.roles, settings.people, settings.notify.page_roles)
    return WebhookNotifier(notify, settings.service.repo, paged=paged)


def _same_world(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(
        a.get(k, "absolute" if k == "rule" else None)
        == b.get(k, "absolute" if k == "rule" else None)
        for k in ("scenario", "strategy", "seed", "rule", "replicas")
    )


async def _demo_once(
    args: argparse.Namespace,
    store: SqliteStore,
    speed: float | None,
    headless: bool,
    *,
    take_over: bool,
) -> int:
    from b2tui.adapters.sandbox import Sandbox, build_sandbox
    from b2tui.adapters.store import current_person
    from b2tui.engine.clock import ScaledClock, VirtualClock
    from b2tui.engine.conductor import Conductor
    from b2tui.engine.session import Attempt, open_session
    from b2tui.engine.watch import Watcher

    person = current_person(sandbox=True)
    user = person.display
    asked = {
        "sandbox": True,
        "scenario": args.scenario,
        "strategy": args.strategy,
        "rule": args.rule,
        "replicas": args.replicas,
    }
    world: dict[str, Any] = {}

    async def prepare(rec: RunRecord | None) -> Attempt:
        """Build the sandbox world of the run seen (or of a new one) and its conductor."""
        params = dict(rec.params) if rec is not None else {**asked, "seed": args.seed}
        strategy = Strategy(params["strategy"])
        base = sandbox_settings(params.get("rule", "absolute"), params.get("replicas"))
        prod = dataclasses.replace(base.environment("production"), strategy=strategy)
        settings = dataclasses.replace(base, environments={**base.environments, "production": prod})
        # A resumed run's clock continues from its newest record (or the clock the last
        # process saved while it waited: a run waiting for sign-offs records nothing); a
        # new one starts now. Either way it never goes backwards after a kill -9.
        start = resume_time(store, rec.id) if rec is not None else datetime.now(UTC)
        clock = VirtualClock(start) if speed is None else ScaledClock(speed, start)
        sandbox = build_sandbox(params["scenario"], int(params["seed"]), clock, settings, strategy)
        extra = getattr(args, "notify_settings", None)
        if extra is not None:
            settings = dataclasses.replace(settings, terminal=extra.terminal)
            sandbox.ports.notifier = _AlsoTo(sandbox.ports.notifier, _real_channels(extra))
        conductor = Conductor(
            settings,
            sandbox.ports,
            store,
            clock,
            user=user,
            autopilot=headless or args.autopilot,
            autopilot_user="sandbox",
            person=person,
        )
        if headless:  # before the claim: it emits run_started or run_resumed
            conductor.subscribe(Printer(sys.stdout, args.json))
        world.update(settings=settings, clock=clock, sandbox=sandbox, params=params)
        seen = rec.id if rec is not None else None
        return Attempt(
            conductor,
            version=None if rec is not None else _sandbox_sha(int(params["seed"])),
            emergency=args.emergency,
            scenario=params["scenario"],
            params=params,
            commit_at=clock.now() - timedelta(minutes=30),
            accept=lambda found: found.id == seen or _same_world(found.params, params),
        )

    opened = await open_session(
        store, prepare, service=sandbox_settings().service.name, sandbox=True, take_over=take_over
    )
    params = world["params"]
    if opened.driver is None:
        return await _watch_sandbox(
            store,
            Watcher(store, opened.run.id),
            dict(opened.run.params),
            args,
            headless,
            opened.holder,
        )
    conductor = opened.driver
    assert conductor is not None
    settings: Settings = world["settings"]
    clock = world["clock"]
    sandbox: Sandbox = world["sandbox"]
    greeting = None
    if not opened.created:
        if (args.scenario, args.strategy) != (params["scenario"], params["strategy"]):
            # Said on stderr and, since the control room hides stderr, in the room too.
            greeting = (
                f"resuming unfinished run {opened.run.id} (scenario {params['scenario']},"
                f" strategy {params['strategy']}): the run's own settings win. For"
                f" {args.scenario}/{args.strategy}, press A to abort this run and start the"
                " demo again."
            )
            print(f"b2tui: {greeting}", file=sys.stderr)
        snap = store.get_blob(opened.run.id, "sandbox")
        if snap:
            sandbox.restore(snap)
    # Snapshots go through the conductor's journal: a failing store holds them too.
    sandbox.on_change = lambda: conductor.keep_blob("sandbox", sandbox.snapshot())
    conductor.keep_blob("sandbox", sandbox.snapshot())
    if speed is not None:
        keeper = asyncio.create_task(_keep_clock(conductor, clock))
        _BACKGROUND.add(keeper)  # a strong reference; asyncio.run cancels it at the end
        keeper.add_done_callback(_BACKGROUND.discard)
    stop_inbox = serve_local(store.location, settings.service.name, "production", conductor)
    try:
        return await _drive(
            args, store, conductor, settings, clock, sandbox, params, headless, greeting
        )
    finally:
        stop_inbox()


async def _drive(
    args: argparse.Namespace,
    store: SqliteStore,
    conductor: Any,
    settings: Settings,
    clock: Any,
    sandbox: Any,
    params: dict[str, Any],
    headless: bool,
    greeting: str | None,
) -> int:
    from b2tui.engine.conductor import LeaseHeld
    from b2tui.engine.watch import Watcher

    run_id = conductor.run_id
    if headless:
        exit_on_sigterm(conductor)
        try:
            outcome = await conductor.run()
        except LeaseHeld as e:
            watcher = Watcher(store, run_id)
            return await _watch_sandbox(store, watcher, params, args, headless, e.holder)
        return outcome.exit_code
    from b2tui.ui.app import make_app

    where = targets(settings)

    def pods() -> Any:
        env = pods_env(conductor.view.phase, "staging", "production")
        return sandbox.ports.cluster.pods(where[env])

    from b2tui.cli.postmortem import file_writer

    app = make_app(
        settings,
        conductor,
        clock=clock,
        pods=pods,
        runner=conductor.run,
        user=conductor.user,
        greeting=greeting,
        postmortem=file_writer(conductor.run_id, args.state, None, args.notify),
    )
    signalled = await run_app(app)
    if not conductor.ran:  # the room closed before it drove: give the claim back
        conductor.release()
    return signalled or tui_exit(conductor.view.outcome)


async def _watch_sandbox(
    store: Store,
    watcher: Watcher,
    params: dict[str, Any],
    args: argparse.Namespace,
    headless: bool,
    holder: str,
) -> int:
    """Watch a sandbox run: its pods come from the world snapshot the driver keeps saving."""
    from b2tui.adapters.sandbox import build_sandbox

    run_id = watcher.run_id
    settings = sandbox_settings(params.get("rule", "absolute"), params.get("replicas"))
    strategy = Strategy(params["strategy"])
    sandbox = build_sandbox(
        params["scenario"], int(params["seed"]), watcher.clock, settings, strategy
    )

    where = targets(settings)

    async def pods() -> Any:
        snap = store.get_blob(run_id, "sandbox")
        if snap:
            sandbox.restore(snap)
        env = pods_env(watcher.view.phase, "staging", "production")
        return await sandbox.ports.cluster.pods(where[env])

    return await watch(watcher, args, headless, holder, settings=settings, pods=pods)


_BACKGROUND: set[asyncio.Task[None]] = set()


CLOCK_SAVE_EVERY = 2.0
"""Seconds (real time) between saves of a demo run's clock."""


def resume_time(store: SqliteStore, run_id: str) -> datetime:
    """Where a resumed sandbox run's clock goes on: the later of its newest record and the
    clock a process saved while it waited (now when there is neither)."""
    times = [t for t in (store.last_time(run_id),) if t is not None]
    saved = store.get_blob(run_id, "clock")
    if saved and isinstance(saved.get("at"), str):
        with contextlib.suppress(ValueError):
            times.append(datetime.fromisoformat(saved["at"]))
    return max(times) if times else datetime.now(UTC)


async def _keep_clock(conductor: Any, clock: Any) -> None:
    """Save the run clock now and then: a kill -9 then costs at most a few seconds."""
    while True:
        await asyncio.sleep(CLOCK_SAVE_EVERY)
        conductor.keep_blob("clock", {"at": clock.now().isoformat()})
