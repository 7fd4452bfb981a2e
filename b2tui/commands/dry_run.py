"""``b2tui run --dry-run``: everything a run would do, checked, nothing changed.

No image is built or pushed (a pre-built one is looked up in the registry and pinned by
digest, as a run pins it before staging), and every
change of the run's first steps — staging's manifests, production's first canary weight,
the idle colour, or the direct apply — goes to the API server with ``dryRun=All``: the
server validates it (schema, admission, RBAC) and stores nothing. Each line says what
would change. Exit status as a run's: 0 fine, 4 the targets have problems (a run would
be blocked), 5 the pre-built image is missing (a run would abort), 1 the server refused
a change.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TextIO

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain.images import image_tag, is_digest, pinned, split_image
from b2tui.domain.phases import EXIT_CODES, Outcome, Strategy
from b2tui.ports import Cluster, SourceError, StepFailed, Target

GitHead = Callable[[str], Awaitable[tuple[str, datetime | None]]]
"""Short sha and commit time of HEAD in a checkout (the repo path)."""

ManifestDigest = Callable[[str], Awaitable[str]]
"""The digest of an image reference in its registry; raises ``StepFailed`` with one line."""


class DryRunCluster(Cluster, Protocol):
    """A :class:`~b2tui.ports.Cluster` that sends every change with ``dryRun=All``."""

    @property
    def dry_run(self) -> bool: ...


class _Stop(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def dry_run_main(
    settings: Settings,
    prod: EnvironmentSettings,
    staging: EnvironmentSettings,
    image: str | None,
    sha: str | None,
    out: TextIO,
    cluster: DryRunCluster,
    *,
    head: GitHead,
    digest: ManifestDigest,
) -> int:
    """Check a run of ``settings`` without changing anything; print what would change.

    Args:
        settings: loaded settings.
        prod: the production environment (of ``settings``).
        staging: the staging environment (of ``settings``).
        image: ``--image REF`` (pre-built), or None for this run's tags.
        sha: the commit to deploy; None reads ``head`` of ``[service] repo``.
        out: where the lines go.
        cluster: a cluster made with ``dry_run=True`` by the caller, who closes it.
        head: reads the sha of HEAD in ``[service] repo`` (when ``sha`` is None).
        digest: looks a pre-built image up in its registry.
    """
    kube = cluster
    if not kube.dry_run:
        raise ValueError("dry_run_main needs a cluster made with dry_run=True")
    try:
        asyncio.run(_plan(settings, staging, prod, image, sha, kube, out, head, digest))
    except _Stop as e:
        print(f"b2tui: dry run: {e}", file=sys.stderr)
        return e.code
    except (SourceError, StepFailed) as e:
        print(f"b2tui: dry run: {e}", file=sys.stderr)
        return 1
    return 0


async def _plan(
    settings: Settings,
    staging: EnvironmentSettings,
    prod: EnvironmentSettings,
    image: str | None,
    sha: str | None,
    kube: Cluster,
    out: TextIO,
    head: GitHead,
    digest: ManifestDigest,
) -> None:
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    if sha is None:
        sha, _ = await head(settings.service.repo)
    repo = split_image(image)[0] if image else settings.service.image
    try:
        staging_tag = image or image_tag(settings.service.image, staging.name, sha)
        prod_tag = image_tag(repo, prod.name, sha)
    except ValueError as e:
        raise _Stop(2, f"{e} ([service] image, --version-sha)") from None
    say(
        f"dry run of {settings.service.name} {sha[:7]}: nothing is built, pushed or changed;"
        " every change goes to the API server with dryRun=All"
    )
    tags = {staging.name: staging_tag, prod.name: prod_tag}
    if image or settings.service.prebuilt:
        try:
            found = await digest(staging_tag)
        except StepFailed as e:
            raise _Stop(EXIT_CODES[Outcome.ABORTED], str(e)) from None
        say(f"image {staging_tag} is in the registry ({found}): no build, no push")
        if is_digest(found):
            tags = {staging.name: pinned(staging_tag, found), prod.name: pinned(prod_tag, found)}
    else:
        say(f"would build and push {staging_tag} once")
    say(f"would promote the digest staging verifies to {prod.name}, tagged {prod_tag} (no rebuild)")
    where = {env.name: Target.of(env) for env in (staging, prod)}
    problems = [
        f"{env.name}: {p}"
        for env in (staging, prod)
        for p in await kube.check_target(where[env.name])
    ]
    if problems:
        raise _Stop(EXIT_CODES[Outcome.BLOCKED], "; ".join(problems))
    current = await kube.current_revision(where[prod.name])
    say(f"{prod.name} serves {current.describe()}: the rollback target")
    await kube.deploy(where[staging.name], tags[staging.name])
    what = ", ".join(staging.manifests) or f"deployment {staging.deployment}"
    say(f"{staging.name}: would apply {what} with {tags[staging.name]} (accepted by the server)")
    tag = tags[prod.name]
    if prod.strategy is Strategy.BLUE_GREEN:
        colour = await kube.stage_colour(where[prod.name], tag)
        say(f"{prod.name}: would stage {tag} on {colour}, then point {prod.service} at {colour}")
    elif prod.strategy is Strategy.CANARY:
        first = prod.canary_steps[0].weight
        split = await kube.set_canary(where[prod.name], tag, first)
        weights = " → ".join(f"{s.weight}%" for s in prod.canary_steps)
        say(
            f"{prod.name}: would start the canary {tag} at {first}% ({split.detail}),"
            f" then {weights} and promote"
        )
    else:
        await kube.deploy(where[prod.name], tag)
        say(f"{prod.name}: would roll {prod.deployment} out with {tag}")
    say("dry run ok: nothing changed")
