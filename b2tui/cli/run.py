"""``b2tui run`` and ``b2tui tui``: a real run through the configured adapters, headless
or in the control room (``--dry-run``: check everything, change nothing)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from b2tui.cli.follow import follower, serve_intents, until_driven, watch
from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.cli.printer import Printer
from b2tui.cli.room import exit_on_sigterm, pods_env, run_app, signalled_exit, targets, tui_exit
from b2tui.config import ConfigError, EnvironmentSettings, Settings, secret_problems
from b2tui.ports import RunRecord, Store


def cmd_run(args: argparse.Namespace, *, tui: bool = False) -> int:
    settings = load(args.config)
    env = settings.environment(args.env)
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
        from b2tui.adapters.kube import KubeCluster
        from b2tui.adapters.real import git_head
        from b2tui.adapters.registry import manifest_digest
        from b2tui.commands.dry_run import dry_run_main

        staging = settings.environment(args.staging)
        kube = KubeCluster(dry_run=True)
        try:
            return dry_run_main(
                settings,
                env,
                staging,
                args.image,
                args.sha,
                sys.stdout,
                kube,
                head=git_head,
                digest=manifest_digest,
            )
        finally:
            kube.close()
    store = open_store(args.state, settings=settings, env=args.env)
    try:
        code = asyncio.run(
            until_driven(
                lambda take_over: _real_run_once(
                    args, settings, env, store, tui=tui, take_over=take_over
                )
            )
        )
    finally:
        store.close()
    return signalled_exit(code)


async def _real_run_once(
    args: argparse.Namespace,
    settings: Settings,
    env: EnvironmentSettings,
    store: Store,
    *,
    tui: bool,
    take_over: bool,
) -> int:
    from b2tui.adapters.http.git import commit_authors
    from b2tui.adapters.real import build_ports, git_head
    from b2tui.adapters.store import current_person
    from b2tui.engine.clock import WallClock
    from b2tui.engine.conductor import Conductor, LeaseHeld
    from b2tui.engine.session import Attempt, open_session

    person = current_person()
    if settings.store.backend == "kube":
        from b2tui.adapters.kube_store import kube_person

        person = await asyncio.to_thread(kube_person, store)  # type: ignore[arg-type]
    user = person.display
    headless = getattr(args, "headless", False) and not tui
    clock = WallClock()
    ports = build_ports(settings)
    where = targets(settings)

    def follow_run(run_id: str, holder: str) -> Any:
        watcher = follower(store, settings, args.env, run_id)
        return watch(
            watcher,
            args,
            headless,
            holder,
            settings=settings,
            pods=lambda: ports.cluster.pods(
                where.get(pods_env(watcher.view.phase, args.staging, args.env)) or where[args.env]
            ),
        )

    if args.staging not in settings.environments:
        # Driving a run goes through staging; watching one needs only its environment.
        live = store.unfinished_run(settings.service.name, sandbox=False)
        holder = store.driver(live.id) if live is not None else None
        if live is None or holder is None:
            settings.environment(args.staging)  # the one-line "add a table" error
        else:
            return int(await follow_run(live.id, holder.owner))
    conductor = Conductor(
        settings,
        ports,
        store,
        clock,
        env=env,
        staging=settings.environment(args.staging),
        user=user,
        autopilot=args.autopilot or headless,
        autopilot_user=f"{user} (autopilot)",
        person=person,
        autopilot_person=person,
    )

    if headless:  # before the claim: it emits run_started or run_resumed
        conductor.subscribe(Printer(sys.stdout, getattr(args, "json", False)))

    async def prepare(rec: RunRecord | None) -> Attempt:
        """The one conductor, offered a new run of the checkout's HEAD when none is open."""
        version = commit_at = None
        people: dict[str, Any] = {}
        if rec is None:
            sha, commit_at = await git_head(settings.service.repo)
            version = args.sha or sha
            authors, emails = await commit_authors(
                "git", settings.service.repo, version, settings.people
            )
            people = {"authors": authors, "author_emails": emails}
        return Attempt(
            conductor,
            version=version,
            emergency=args.emergency,
            params={"config": settings.path, "env": args.env}
            | ({"image": args.image} if args.image else {})
            | ({"flags": sorted(set(args.flags))} if getattr(args, "flags", None) else {})
            | people,
            commit_at=commit_at,
        )

    try:
        opened = await open_session(
            store, prepare, service=settings.service.name, sandbox=False, take_over=take_over
        )
    except ValueError as e:  # image or sha that cannot make an image reference
        raise UsageError(f"{e} ([service] image in {settings.path}, --version-sha)") from None
    if opened.driver is None:
        return await follow_run(opened.run.id, opened.holder)
    stop_intents = serve_intents(store, settings, args.env, conductor)
    if headless:
        exit_on_sigterm(conductor)
        try:
            return (await conductor.run()).exit_code
        except LeaseHeld as e:
            return await follow_run(conductor.run_id, e.holder)
        finally:
            stop_intents()
    from b2tui.ui.app import make_app

    def pods() -> Any:
        name = pods_env(conductor.view.phase, args.staging, args.env)
        return ports.cluster.pods(where[name])

    from b2tui.cli.postmortem import file_writer

    write_up = file_writer(conductor.run_id, args.state, settings, args.config)
    app = make_app(
        settings,
        conductor,
        clock=clock,
        pods=pods,
        runner=conductor.run,
        user=user,
        postmortem=write_up,
    )
    try:
        signalled = await run_app(app)
    finally:
        stop_intents()
    if not conductor.ran:  # the room closed before it drove: give the claim back
        conductor.release()
    return signalled or tui_exit(conductor.view.outcome)


def cmd_tui(args: argparse.Namespace) -> int:
    return cmd_run(args, tui=True)
