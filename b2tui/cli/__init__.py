"""Command line: ``b2tui demo | run | tui | attach | history | gates | status | rollback``,
``check-config``, ``init``.

Exit status (the contract scripts rely on): 0 succeeded, 3 rolled back, 4 blocked,
5 aborted, 2 bad usage or configuration, 1 a source failed (one-shot commands).
Bad input gets one line on stderr — what, where, how to fix — never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from b2tui.cli.parser import UsageError, build_parser, parse_speed
from b2tui.config import (
    ConfigError,
    Settings,
    find_config,
    load_settings,
    sandbox_settings,
    secret_problems,
)
from b2tui.domain import events as ev
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import verdict_text
from b2tui.domain.phases import EXIT_USAGE, Outcome, Phase, Strategy
from b2tui.masking import mask, mask_data, register_settings
from b2tui.ports import RunRecord, Store, StoreError

if TYPE_CHECKING:
    from b2tui.adapters.store import SqliteStore
    from b2tui.engine.watch import Watcher

EXAMPLE_CONFIG = Path(__file__).parent.parent / "example.toml"


# --- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = args.command or ("tui" if find_config() else None)
        if command is None:
            raise UsageError("no command and no ./b2tui.toml: try `b2tui demo` or `b2tui init`")
        handler: Callable[[argparse.Namespace], int] = COMMANDS[command]
        if args.command is None:
            args = build_parser().parse_args(["tui"])
        return handler(args)
    except UsageError as e:
        print(mask(f"b2tui: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except StoreError as e:
        print(mask(f"b2tui: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        for line in e.problems:
            print(mask(line), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("b2tui: interrupted; the run's state is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # the last guard: one line, never a traceback (state is kept)
        if os.environ.get("B2TUI_DEBUG"):
            raise
        print(
            mask(
                f"b2tui: internal error: {type(e).__name__}: {e} (set B2TUI_DEBUG=1 for the"
                " traceback; the run's state is kept)"
            ),
            file=sys.stderr,
        )
        return 1


# --- demo and runs -------------------------------------------------------------------------


def _open_store(
    path: str | None,
    *,
    read_only: bool = False,
    settings: Settings | None = None,
    env: str = "production",
) -> Any:
    """The configured store: ``[store] backend = "kube"`` of ``settings``, else SQLite."""
    from b2tui.adapters.store import Store, default_state_path

    if settings is not None and settings.store.backend == "kube":
        from b2tui.adapters.kube_store import open_kube_store

        if path:
            raise UsageError(
                f'--state is for the SQLite store; {settings.path} sets [store] backend = "kube"'
            )
        return open_kube_store(settings, env)
    return Store(Path(path) if path else default_state_path(), read_only=read_only)


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
    store = _open_store(args.state)
    return asyncio.run(_demo(args, store, speed, headless))


_TAKE_OVER = -2
"""Returned by a headless ``--take-over`` watcher once the driver is gone: claim and drive."""


async def _demo(
    args: argparse.Namespace, store: SqliteStore, speed: float | None, headless: bool
) -> int:
    take_over = False
    while True:
        code = await _demo_once(args, store, speed, headless, take_over=take_over)
        if code != _TAKE_OVER:
            return code
        take_over = code == _TAKE_OVER


def _same_world(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(
        a.get(k, "absolute" if k == "rule" else None)
        == b.get(k, "absolute" if k == "rule" else None)
        for k in ("scenario", "strategy", "seed", "rule")
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
    from b2tui.adapters.store import current_user
    from b2tui.engine.clock import ScaledClock, VirtualClock
    from b2tui.engine.conductor import Conductor, LeaseHeld
    from b2tui.engine.session import Attempt, open_session
    from b2tui.engine.watch import Watcher

    user = current_user()
    asked = {
        "sandbox": True,
        "scenario": args.scenario,
        "strategy": args.strategy,
        "rule": args.rule,
    }
    world: dict[str, Any] = {}

    async def prepare(rec: RunRecord | None) -> Attempt:
        """Build the sandbox world of the run seen (or of a new one) and its conductor."""
        params = dict(rec.params) if rec is not None else {**asked, "seed": args.seed}
        strategy = Strategy(params["strategy"])
        base = sandbox_settings(params.get("rule", "absolute"))
        prod = dataclasses.replace(base.environment("production"), strategy=strategy)
        settings = dataclasses.replace(base, environments={**base.environments, "production": prod})
        # A resumed run's clock continues from its newest record (or the clock the last
        # process saved while it waited: a run waiting for sign-offs records nothing); a
        # new one starts now. Either way it never goes backwards after a kill -9.
        start = _resume_time(store, rec.id) if rec is not None else datetime.now(UTC)
        clock = VirtualClock(start) if speed is None else ScaledClock(speed, start)
        sandbox = build_sandbox(params["scenario"], int(params["seed"]), clock, settings, strategy)
        conductor = Conductor(
            settings,
            sandbox.ports,
            store,
            clock,
            user=user,
            autopilot=headless or args.autopilot,
            autopilot_user="sandbox",
        )
        if headless:  # before the claim: it emits run_started or run_resumed
            conductor.subscribe(_Printer(sys.stdout, args.json))
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
    if not opened.created:
        if (args.scenario, args.strategy) != (params["scenario"], params["strategy"]):
            print(
                f"b2tui: resuming unfinished run {opened.run.id} (scenario {params['scenario']},"
                f" strategy {params['strategy']}); the run's own settings win",
                file=sys.stderr,
            )
        snap = store.get_blob(opened.run.id, "sandbox")
        if snap:
            sandbox.restore(snap)
    run_id = conductor.run_id
    # Snapshots go through the conductor's journal: a failing store holds them too.
    sandbox.on_change = lambda: conductor.keep_blob("sandbox", sandbox.snapshot())
    conductor.keep_blob("sandbox", sandbox.snapshot())
    if speed is not None:
        keeper = asyncio.create_task(_keep_clock(conductor, clock))
        _BACKGROUND.add(keeper)  # a strong reference; asyncio.run cancels it at the end
        keeper.add_done_callback(_BACKGROUND.discard)
    if headless:
        _exit_on_sigterm(conductor)
        try:
            outcome = await conductor.run()
        except LeaseHeld as e:
            watcher = Watcher(store, run_id)
            return await _watch_sandbox(store, watcher, params, args, headless, e.holder)
        return outcome.exit_code
    from b2tui.ui.app import make_app

    def pods() -> Any:
        env = _pods_env(conductor.view.phase, "staging", "production")
        return sandbox.ports.cluster.pods(settings.environment(env))

    app = make_app(settings, conductor, clock=clock, pods=pods, runner=conductor.run, user=user)
    signalled = await _run_app(app)
    return signalled or _tui_exit(conductor.view.outcome)


def _pods_env(phase: Phase | None, staging: str, production: str) -> str:
    """The environment whose pods matter now: staging's until production starts."""
    early = (Phase.READINESS, Phase.VALIDATE, Phase.STAGING, Phase.SMOKE)
    return staging if phase in early else production


def _tui_exit(outcome: Outcome | None) -> int:
    if outcome is None:
        print(
            "b2tui: left the control room; the run keeps its state — run the same command"
            " to reopen it",
            file=sys.stderr,
        )
        return 0
    return outcome.exit_code


async def _watch(
    watcher: Watcher,
    args: argparse.Namespace,
    headless: bool,
    holder: str,
    *,
    settings: Settings | None = None,
    pods: Callable[[], Any] | None = None,
) -> int:
    """Follow a run another process drives: printed events, or a read-only control room.

    With ``--take-over`` a headless watcher returns ``_TAKE_OVER`` once the driver is gone, so
    the caller claims the run and drives it.
    """
    print(f"b2tui: watching — run {watcher.run_id} is driven by {holder}", file=sys.stderr)
    if headless:
        printer = _Printer(sys.stdout, args.json)
        for e in watcher.history():
            printer(e)
        watcher.subscribe(printer)
        take_over = bool(getattr(args, "take_over", False))
        await watcher.follow(until_gone=take_over)
        if take_over and watcher.driver_gone and not watcher.view.finished:
            print(
                f"b2tui: taking over run {watcher.run_id} ({watcher.driver_gone})",
                file=sys.stderr,
            )
            return _TAKE_OVER
    else:
        from b2tui.ui.app import make_app

        app = make_app(
            settings or sandbox_settings(),
            watcher,
            clock=watcher.clock,
            pods=pods,
            runner=watcher.follow,
        )
        signalled = await _run_app(app)
        if signalled:
            return signalled
        if getattr(app, "take_over_requested", False) and not watcher.view.finished:
            return _TAKE_OVER  # the take-over key: claim the run and drive it here
    return watcher.view.outcome.exit_code if watcher.view.outcome else 0


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
    settings = sandbox_settings(params.get("rule", "absolute"))
    strategy = Strategy(params["strategy"])
    sandbox = build_sandbox(
        params["scenario"], int(params["seed"]), watcher.clock, settings, strategy
    )

    async def pods() -> Any:
        snap = store.get_blob(run_id, "sandbox")
        if snap:
            sandbox.restore(snap)
        env = _pods_env(watcher.view.phase, "staging", "production")
        return await sandbox.ports.cluster.pods(settings.environment(env))

    return await _watch(watcher, args, headless, holder, settings=settings, pods=pods)


_BACKGROUND: set[asyncio.Task[None]] = set()

CLOCK_SAVE_EVERY = 2.0
"""Seconds (real time) between saves of a demo run's clock."""

SIGNAL_GRACE = 3.0
"""Seconds a signalled control room gets to restore the terminal before a hard exit."""

TERMINAL_RESET = (
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?25h\x1b[?1049l"
)
"""Mouse tracking off, bracketed paste off, cursor shown, main screen back."""


def _resume_time(store: SqliteStore, run_id: str) -> datetime:
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


async def _run_app(app: Any) -> int | None:
    """Run the control room; SIGTERM and SIGHUP leave it the normal way, so Textual gives
    the terminal back (main screen, cursor shown, mouse tracking off).

    Returns:
        ``128 + signal`` when a signal ended it, None after a normal quit.
    """
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def stop(sig: int) -> None:
        got.append(sig)
        app.exit(return_code=128 + sig)
        # Should the exit hang (the terminal gone with SIGHUP), reset and leave anyway.
        loop.call_later(SIGNAL_GRACE, _hard_exit, 128 + sig)

    signals = (signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
    try:
        await app.run_async()
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 128 + got[0] if got else None


def _hard_exit(code: int) -> None:
    with contextlib.suppress(Exception):
        os.write(sys.__stdout__.fileno() if sys.__stdout__ else 1, TERMINAL_RESET.encode())
    os._exit(code)


def _exit_on_sigterm(conductor: Any) -> None:
    # The state is saved after every transition; SIGTERM only needs a clean exit — and
    # one line if the state file could not take the newest records.
    loop = asyncio.get_running_loop()

    def stop(sig: int) -> None:
        unsaved = conductor.unsaved
        if unsaved:
            print(
                mask(f"b2tui: stopped by signal {sig}; the state file is behind: {unsaved}"),
                file=sys.stderr,
                flush=True,
            )
        os._exit(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)


def _load(path: str | None) -> Settings:
    if path is None:
        found = find_config()
        if found is None:
            raise UsageError("no --config given and no ./b2tui.toml; create one with `b2tui init`")
        path = str(found)
    settings = load_settings(path)
    register_settings(settings)  # before anything can print, store or send a secret
    return settings


def cmd_run(args: argparse.Namespace, *, tui: bool = False) -> int:
    settings = _load(args.config)
    settings.environment(args.env)
    # Every secret must resolve before anything is touched (no half-run for a typo).
    secrets = secret_problems(settings)
    if secrets:
        raise ConfigError(secrets)
    if args.image:
        from b2tui.adapters.registry import split_reference
        from b2tui.ports import StepFailed

        try:
            split_reference(args.image)
        except StepFailed as e:
            raise UsageError(f"--image: {e}") from None
    if getattr(args, "dry_run", False):
        from b2tui.commands.dry_run import dry_run_main

        settings.environment(args.staging)
        return dry_run_main(settings, args.env, args.staging, args.image, args.sha, sys.stdout)
    store = _open_store(args.state, settings=settings, env=args.env)
    try:
        return asyncio.run(_real_run(args, settings, store, tui=tui))
    finally:
        store.close()


async def _real_run(
    args: argparse.Namespace, settings: Settings, store: Store, *, tui: bool
) -> int:
    take_over = False
    while True:
        code = await _real_run_once(args, settings, store, tui=tui, take_over=take_over)
        if code != _TAKE_OVER:
            return code
        take_over = code == _TAKE_OVER


async def _real_run_once(
    args: argparse.Namespace, settings: Settings, store: Store, *, tui: bool, take_over: bool
) -> int:
    from b2tui.adapters.real import build_ports, git_head
    from b2tui.adapters.store import current_user
    from b2tui.engine.clock import WallClock
    from b2tui.engine.conductor import Conductor, LeaseHeld
    from b2tui.engine.session import Attempt, open_session

    user = current_user()
    headless = getattr(args, "headless", False) and not tui
    clock = WallClock()
    ports = build_ports(settings)

    def watch(run_id: str, holder: str) -> Any:
        watcher = _follower(store, settings, args.env, run_id)
        return _watch(
            watcher,
            args,
            headless,
            holder,
            settings=settings,
            pods=lambda: ports.cluster.pods(
                settings.environments.get(_pods_env(watcher.view.phase, args.staging, args.env))
                or settings.environment(args.env)
            ),
        )

    if args.staging not in settings.environments:
        # Driving a run goes through staging; watching one needs only its environment.
        live = store.unfinished_run(settings.service.name, sandbox=False)
        holder = store.driver(live.id) if live is not None else None
        if live is None or holder is None:
            settings.environment(args.staging)  # the one-line "add a table" error
        else:
            return int(await watch(live.id, holder.owner))
    conductor = Conductor(
        settings,
        ports,
        store,
        clock,
        env=args.env,
        staging=args.staging,
        user=user,
        autopilot=args.autopilot or headless,
        autopilot_user=f"{user} (autopilot)",
    )

    if headless:  # before the claim: it emits run_started or run_resumed
        conductor.subscribe(_Printer(sys.stdout, getattr(args, "json", False)))

    async def prepare(rec: RunRecord | None) -> Attempt:
        """The one conductor, offered a new run of the checkout's HEAD when none is open."""
        version = commit_at = None
        if rec is None:
            sha, commit_at = await git_head(settings.service.repo)
            version = args.sha or sha
        return Attempt(
            conductor,
            version=version,
            emergency=args.emergency,
            params={"config": settings.path, "env": args.env}
            | ({"image": args.image} if args.image else {}),
            commit_at=commit_at,
        )

    try:
        opened = await open_session(
            store, prepare, service=settings.service.name, sandbox=False, take_over=take_over
        )
    except ValueError as e:  # image or sha that cannot make an image reference
        raise UsageError(f"{e} ([service] image in {settings.path}, --version-sha)") from None
    if opened.driver is None:
        return await watch(opened.run.id, opened.holder)
    stop_intents = _serve_intents(store, settings, args.env, conductor)
    if headless:
        _exit_on_sigterm(conductor)
        try:
            return (await conductor.run()).exit_code
        except LeaseHeld as e:
            return await watch(conductor.run_id, e.holder)
        finally:
            stop_intents()
    from b2tui.ui.app import make_app

    def pods() -> Any:
        env = _pods_env(conductor.view.phase, args.staging, args.env)
        return ports.cluster.pods(settings.environment(env))

    app = make_app(settings, conductor, clock=clock, pods=pods, runner=conductor.run, user=user)
    try:
        signalled = await _run_app(app)
    finally:
        stop_intents()
    return signalled or _tui_exit(conductor.view.outcome)


def cmd_tui(args: argparse.Namespace) -> int:
    return cmd_run(args, tui=True)


def _follower(store: Any, settings: Settings, env: str, run_id: str) -> Any:
    """Who follows a run another process drives: with the kube store an attached session
    (intents as records, if RBAC allows), else a read-only watcher."""
    from b2tui.engine.watch import Watcher

    if settings.store.backend != "kube":
        return Watcher(store, run_id)
    from b2tui.adapters.kube_store import KubeIntents
    from b2tui.engine.remote import AttachedSession

    return AttachedSession(store, run_id, KubeIntents(store, settings.service.name, env))


def _serve_intents(store: Any, settings: Settings, env: str, session: Any) -> Callable[[], None]:
    """Driver side of the kube store: apply intents other hosts send (on the event loop)."""
    if settings.store.backend != "kube":
        return lambda: None
    from b2tui.adapters.kube_store import KubeIntents
    from b2tui.engine.remote import apply_intent
    from b2tui.ports import Intent

    loop = asyncio.get_running_loop()
    inbox = KubeIntents(store, settings.service.name, env)

    def arrived(intent: Intent) -> None:
        loop.call_soon_threadsafe(apply_intent, session, intent)

    return inbox.serve(session.run_id, arrived)


def cmd_attach(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    settings.environment(args.env)
    if settings.store.backend != "kube":
        raise UsageError(
            f'attach follows runs in the cluster: set [store] backend = "kube" in'
            f" {settings.path} (the SQLite store is one host's: use `b2tui tui` there)"
        )
    store = _open_store(None, settings=settings, env=args.env)
    try:
        return asyncio.run(_attach(args, settings, store))
    finally:
        store.close()


async def _attach(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from b2tui.adapters.real import build_ports

    rec = await asyncio.to_thread(
        store.unfinished_run, settings.service.name, sandbox=False, environment=args.env
    )
    if rec is None:
        print(
            f"b2tui: no unfinished run of {settings.service.name} to {args.env} in"
            f" {store.location} (`b2tui history --config {settings.path}` lists the others)",
            file=sys.stderr,
        )
        return 1
    session = await asyncio.to_thread(_follower, store, settings, args.env, rec.id)
    if session.refusal:
        print(f"b2tui: {session.refusal}", file=sys.stderr)
    if args.headless:
        return await _watch(session, args, True, session.driver)
    from b2tui.ui.app import make_app

    ports = build_ports(settings)
    staging = args.staging if args.staging in settings.environments else args.env

    def pods() -> Any:
        env = _pods_env(session.view.phase, staging, args.env)
        return ports.cluster.pods(settings.environment(env))

    print(f"b2tui: attached to run {rec.id}, driven by {session.driver}", file=sys.stderr)
    app = make_app(
        settings, session, clock=session.clock, pods=pods, runner=session.follow, user=session.user
    )
    signalled = await _run_app(app)
    return signalled or (session.view.outcome.exit_code if session.view.outcome else 0)


# --- one-shot commands ---------------------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    from b2tui.domain.dora import RunSummary, dora

    settings = _load(args.config) if args.config else None
    store = _open_store(args.state, read_only=True, settings=settings, env=args.env)
    runs = store.runs(args.limit)
    summaries = []
    rows: list[dict[str, Any]] = []
    for r in runs:
        rb = (r.state.get("rollback") or {}).get("started")
        summaries.append(
            RunSummary(
                r.started_at,
                r.finished_at,
                r.outcome,
                r.commit_at,
                datetime.fromisoformat(rb) if rb else None,
            )
        )
        end = r.finished_at or r.clock
        rows.append(
            {
                "run_id": r.id,
                "service": r.service,
                "environment": r.environment,
                "strategy": r.strategy,
                "version": r.version,
                "started": r.started_at.isoformat(),
                "finished": r.finished_at.isoformat() if r.finished_at else None,
                "duration_s": (end - r.started_at).total_seconds() if end else None,
                "outcome": r.outcome or "running",
                "reason": r.reason or "",
                "scenario": r.params.get("scenario"),
            }
        )
    d = dora(summaries)
    figures = dataclasses.asdict(d)
    if args.json:
        print(json.dumps({"runs": rows, "dora": figures}))
        return 0
    if not rows:
        print("no runs yet — try `b2tui demo --headless`")
        return 0
    print(f"{'RUN':26} {'STARTED':17} {'STRATEGY':10} {'OUTCOME':12} {'DURATION':9} REASON")
    for row in rows:
        started = datetime.fromisoformat(row["started"]).strftime("%Y-%m-%d %H:%M")
        dur = format_duration(row["duration_s"]) if row["duration_s"] is not None else "-"
        print(
            f"{row['run_id']:26} {started:17} {row['strategy']:10} {row['outcome']:12}"
            f" {dur:9} {row['reason'][:60]}"
        )
    print()
    print("DORA (from these runs)")
    print(f"  deployment frequency  {_fmt(d.per_week, '{:.1f} per week')}")
    print(f"  lead time             {_fmt(d.lead_time_s, None)}")
    print(f"  change failure rate   {_fmt(d.change_failure_rate, 'pct')}")
    print(f"  time to restore       {_fmt(d.time_to_restore_s, None)}")
    return 0


def _fmt(value: float | None, how: str | None) -> str:
    if value is None:
        return "n/a"
    if how == "pct":
        return f"{value * 100:.0f}%"
    if how is None:
        return format_duration(value)
    return how.format(value)


def cmd_gates(args: argparse.Namespace) -> int:
    from b2tui.commands.gates import gates_main

    settings = _load(args.config)
    settings.environment(args.env)
    return gates_main(settings, args.env, args.track, args.json, sys.stdout, args.explain)


def cmd_status(args: argparse.Namespace) -> int:
    from b2tui.commands.kube_cmds import status_main
    from b2tui.commands.oneshot import kube_cluster, sandbox_cluster

    if args.sandbox:
        _no_config_with_sandbox(args)
        with sandbox_cluster(_open_store(args.state)) as (settings, cluster, _):
            return status_main(settings, args.env, args.json, sys.stdout, cluster)
    settings = _load(args.config)
    settings.environment(args.env)
    with kube_cluster() as kube:
        return status_main(settings, args.env, args.json, sys.stdout, kube)


def cmd_rollback(args: argparse.Namespace) -> int:
    from b2tui.commands.known_good import known_good
    from b2tui.commands.kube_cmds import ClusterView, rollback_main
    from b2tui.commands.oneshot import kube_cluster, record_rollback, sandbox_cluster
    from b2tui.ports import Revision

    def roll(settings: Settings, cluster: ClusterView, store: Any) -> int:
        service = settings.service.name
        recorded = known_good(store, service, args.env)
        return rollback_main(
            settings,
            args.env,
            Revision.from_dict(recorded) if recorded else None,
            args.json,
            sys.stdout,
            cluster,
            dry_run=args.dry_run,
            on_done=lambda done: record_rollback(store, service, done),
        )

    if args.sandbox:
        _no_config_with_sandbox(args)
        store = _open_store(args.state)
        with sandbox_cluster(store) as (settings, sandbox, rec):
            lease = store.driver(rec.id) if rec is not None and rec.outcome is None else None
            if lease is not None:
                raise UsageError(
                    f"sandbox run {rec.id if rec else ''} is driven by {lease.owner}: roll back"
                    " in its control room (R)"
                )
            if args.dry_run:
                raise UsageError("--dry-run needs a real cluster (the sandbox has no dry run)")
            return roll(settings, sandbox, store)
    settings = _load(args.config)
    settings.environment(args.env)
    store = _open_store(args.state, settings=settings, env=args.env)
    try:
        with kube_cluster(dry_run=args.dry_run) as kube:
            return roll(settings, kube, store)
    finally:
        store.close()


def _no_config_with_sandbox(args: argparse.Namespace) -> None:
    if args.config:
        raise UsageError("--sandbox uses the demo's built-in settings: drop --config")


def cmd_abort(args: argparse.Namespace) -> int:
    demo = args.demo or (args.config is None and find_config() is None)
    if demo:
        settings = sandbox_settings()
    else:
        settings = _load(args.config)
    settings.environment(args.env)
    store = _open_store(args.state, settings=None if demo else settings, env=args.env)
    return asyncio.run(_abort(args, settings, store, demo=demo))


async def _abort(args: argparse.Namespace, settings: Settings, store: Any, *, demo: bool) -> int:
    """Take the unfinished run (as a driver would) and abort it: before production it ends
    ``aborted``; after, it rolls back to the known-good revision (reason ``aborted by U``)."""
    from b2tui.adapters.store import current_user
    from b2tui.engine.clock import VirtualClock, WallClock
    from b2tui.engine.conductor import Conductor

    user = current_user()
    where = f"{settings.service.name} in {args.env} ({store.location})"
    rec = store.unfinished_run(settings.service.name, sandbox=demo)
    if rec is None or rec.environment != args.env:
        print(f"b2tui: no unfinished run of {where}: nothing to abort", file=sys.stderr)
        return 0
    sandbox = None
    if demo:
        from b2tui.adapters.sandbox import build_sandbox

        strategy = Strategy(rec.params.get("strategy", "canary"))
        prod = dataclasses.replace(settings.environment(args.env), strategy=strategy)
        settings = dataclasses.replace(
            settings, environments={**settings.environments, args.env: prod}
        )
        clock: Any = VirtualClock(_resume_time(store, rec.id))
        sandbox = build_sandbox(
            rec.params.get("scenario", "happy"),
            int(rec.params.get("seed", 7)),
            clock,
            settings,
            strategy,
        )
        ports = sandbox.ports
    else:
        from b2tui.adapters.real import build_ports

        clock = WallClock()
        ports = build_ports(settings)
    conductor = Conductor(settings, ports, store, clock, env=args.env, user=user)
    claim = await conductor.claim(version=None, params={"sandbox": demo})
    if claim.run is None:
        print(f"b2tui: no unfinished run of {where}: nothing to abort", file=sys.stderr)
        return 0
    if not claim.driver:
        holder = claim.holder.owner if claim.holder else "another process"
        raise UsageError(
            f"run {claim.run.id} is driven by {holder}: abort it in that control room, or"
            " stop that process (its state is kept) and run `b2tui abort` again"
        )
    if sandbox is not None:
        snap = store.get_blob(claim.run.id, "sandbox")
        if snap:
            sandbox.restore(snap)
        sandbox.on_change = lambda: conductor.keep_blob("sandbox", sandbox.snapshot())
    conductor.subscribe(_Printer(sys.stdout, args.json))
    try:
        result = conductor.abort(user)
        if not result.accepted:
            raise UsageError(f"run {claim.run.id}: {result.message}")
        outcome = await conductor.run()  # a rollback runs to its end; an abort is done
    finally:
        conductor.release()
    print(f"b2tui: run {claim.run.id} {outcome.value}: aborted by {user}", file=sys.stderr)
    return outcome.exit_code


def cmd_check_config(args: argparse.Namespace) -> int:
    if not args.path.strip():
        raise UsageError("check-config: the path is empty; pass a b2tui.toml")
    settings = _load(args.path)
    secrets = secret_problems(settings)
    if secrets:
        raise ConfigError(secrets)
    envs = ", ".join(sorted(settings.environments))
    n = len(settings.environments)
    print(f"{args.path}: ok ({n} environment{'' if n == 1 else 's'}: {envs})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    if not args.path.strip():
        raise UsageError("init: the path is empty; pass a file such as b2tui.toml")
    path = Path(args.path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; pass a file path such as {path / 'b2tui.toml'}")
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist; create it")
    try:
        path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as e:
        raise UsageError(
            f"cannot write {path}: {e.strerror or e}; pass a path in a writable directory"
        ) from None
    print(f"wrote {path}; check it with `b2tui check-config {path}`")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "run": cmd_run,
    "tui": cmd_tui,
    "history": cmd_history,
    "attach": cmd_attach,
    "gates": cmd_gates,
    "status": cmd_status,
    "rollback": cmd_rollback,
    "abort": cmd_abort,
    "check-config": cmd_check_config,
    "init": cmd_init,
}


# --- headless output -----------------------------------------------------------------------


class _Printer:
    """Prints events: JSON lines, or readable progress lines (quiet on repeated gates)."""

    def __init__(self, out: IO[str], as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self._gate_status: dict[tuple[str | None, str], str] = {}

    def __call__(self, e: ev.Event) -> None:
        if self.as_json:
            self.out.write(json.dumps(mask_data(e.to_dict())) + "\n")
            self.out.flush()
            return
        line = self.describe(e)
        if line:
            phase = f"[{e.phase.value}]" if e.phase else ""
            self.out.write(mask(f"{e.ts:%H:%M:%S} {phase:13} {line}") + "\n")
            self.out.flush()

    def describe(self, e: ev.Event) -> str | None:
        match e:
            case ev.RunStarted():
                return f"run {e.run_id}: {e.service} {e.version} → {e.environment} ({e.strategy})"
            case ev.RunResumed():
                return f"run {e.run_id} resumed by {e.by}"
            case ev.PhaseStarted():
                return "phase started"
            case ev.PhaseCompleted():
                return f"phase completed in {format_duration(e.duration)}"
            case ev.GateSampled():
                key = (e.track, e.gate)
                if self._gate_status.get(key) == e.status:
                    return None
                self._gate_status[key] = e.status
                track = f"{e.track} " if e.track else ""
                # One place words a verdict: value, sign, limit, the rule that decided.
                return f"gate {track}{e.gate} {e.status.upper()}: {verdict_text(e.result())}"
            case ev.TrafficChanged():
                return f"traffic {e.canary_percent}% (achieved {e.achieved_percent:g}%, {e.detail})"
            case ev.HoldStarted():
                return f"hold {format_duration(e.seconds)}" if e.seconds else None
            case ev.StageChanged():
                return f"monitoring stage {e.number}: {e.stage}"
            case ev.RollbackStarted():
                return f"ROLLBACK by {e.by}: {e.reason} → rev {e.target.get('revision')}"
            case ev.RollbackCompleted():
                done = "restored" if e.changed else "already on target"
                rec = "service recovered" if e.recovered else "recovery NOT verified"
                return f"rollback completed in {format_duration(e.duration)}: {done}, {rec}"
            case ev.Notice():
                return f"{e.level}: {e.message}"
            case ev.CommandFinished():
                status = "timed out" if e.exit_code is None else f"exit {e.exit_code}"
                return f"{e.name}: {status} ({format_duration(e.duration)})"
            case ev.LogLine():
                # Engine-authored lines only; streamed build/command output stays in --json.
                return e.line if e.source in ("engine", "kube", "logs") else None
            case ev.ChecklistChanged():
                if e.state == "pending" or e.by:
                    return None
                by = f" by {e.by}" if e.by else ""
                return f"check {e.title}: {e.state}{by}"
            case ev.PauseChanged():
                return ("paused: " if e.paused else "resumed: ") + e.reason
            case ev.Notified():
                return f"notified {e.channel}: {'ok' if e.ok else e.detail}"
            case ev.OperatorActed():
                return f"{e.user}: {e.action} {e.detail}".rstrip()
            case ev.RunFinished():
                return f"run {e.outcome.upper()}" + (f": {e.reason}" if e.reason else "")
        return None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
