"""The artifact: built and pushed once (or found pre-built), pinned by digest, promoted.

Steps over a :class:`~b2tui.engine.context.RunContext`: :func:`build_and_push` (staging's
phase pins the digest the registry reports) and :func:`promote` (before production: the
digest staging verified is what production gets). Before each production change
:meth:`~b2tui.engine.context.RunContext.check_artifact` asks the registry it still has it.
"""

from __future__ import annotations

from b2tui.domain import events as ev
from b2tui.domain.images import is_digest
from b2tui.domain.phases import Outcome
from b2tui.domain.revision import Artifact
from b2tui.engine.context import Finish, RunContext
from b2tui.engine.state import Step
from b2tui.ports import SourceError, StepFailed


async def build_and_push(ctx: RunContext, tag: str) -> None:
    """Build and push ``tag`` once, or find the pre-built one; pin its digest.

    The digest the registry reports is the run's :class:`Artifact`: staging deploys
    it, production promotes it. A failure aborts the run (nothing touched yet).
    """
    st = ctx.st
    try:
        if st.prebuilt:
            # Built by CI: nothing to build or push, but the image must exist before
            # any environment is touched, and its tag is resolved to a digest now.
            if not st.did(Step.CHECK_IMAGE, tag):
                digest = await ctx.ports.images.check(tag)
                ctx.log("engine", f"pre-built {tag} is in the registry ({digest})")
                _pin(ctx, tag, digest, "pre-built")
                ctx.mark(Step.CHECK_IMAGE, tag)
            return
        if not st.did(Step.BUILD, tag):
            ctx.log("engine", f"building {tag}")
            await ctx.ports.images.build(tag, ctx.sink("build"))
            ctx.mark(Step.BUILD, tag)
        if not st.did(Step.PUSH, tag):
            ctx.log("engine", f"pushing {tag}")
            digest = await ctx.ports.images.push(tag, ctx.sink("push"))
            ctx.log("engine", f"pushed {tag} {digest}")
            _pin(ctx, tag, digest, "pushed")
            ctx.mark(Step.PUSH, tag)
    except (StepFailed, SourceError) as e:
        # Production not yet touched: nothing to roll back, the run is aborted.
        raise Finish(Outcome.ABORTED, f"{st.phase.value}: {e}") from None


def _pin(ctx: RunContext, tag: str, digest: str, how: str) -> None:
    if not is_digest(digest):
        raise StepFailed(f"registry reported no usable digest for {tag} ({digest})")
    ctx.st.artifact = Artifact(tag, digest)
    ctx.save()
    ctx.emit(
        ev.ArtifactPinned(
            ts=ctx.clock.now(),
            phase=ctx.st.phase,
            environment=ctx.staging_env.name,
            image=ctx.deployed(ctx.staging_env.name),
            digest=digest,
            detail=f"{how} once, pinned for staging",
        )
    )


async def promote(ctx: RunContext) -> None:
    """Before production: the digest staging verified is what production gets.

    The tag staging used must still name that digest (a tag moved since is refused,
    naming both digests), the registry must still have the digest, and the manifest
    is tagged ``<image>:production-<sha>`` through the registry API for people (no
    build, no pull). Any doubt aborts the run: production is untouched here.
    """
    st = ctx.st
    if st.did(Step.PROMOTE):
        return
    prod_tag = ctx.image(ctx.env.name)
    try:
        if st.artifact is None:
            # A run recorded before digests were pinned: pin what staging's tag names.
            staged = ctx.image(ctx.staging_env.name)
            digest = await ctx.ports.images.check(staged)
            ctx.notice("warn", f"no digest recorded in staging: pinning {staged} now")
            _pin(ctx, staged, digest, "found")
        artifact = st.artifact
        assert artifact is not None
        now_digest = await ctx.ports.images.check(artifact.ref)
        if now_digest != artifact.digest:
            raise Finish(
                Outcome.ABORTED,
                f"production: tag {artifact.ref} moved since staging: staging verified"
                f" {artifact.digest}, the registry now has {now_digest}; production is"
                " untouched — start a new run to test what the tag names now",
            )
        await ctx.check_artifact()
    except (StepFailed, SourceError) as e:
        raise Finish(Outcome.ABORTED, f"production: {e}") from None
    try:
        tagged = await ctx.ports.images.retag(artifact.by_digest, prod_tag)
        if tagged != artifact.digest:
            ctx.notice("warn", f"registry reports {tagged} for {prod_tag}, not {artifact.digest}")
        else:
            ctx.log("engine", f"tagged {artifact.by_digest} as {prod_tag} (no rebuild)")
    except (StepFailed, SourceError) as e:
        # For people only: production is pinned by digest either way.
        ctx.notice("warn", f"could not tag {prod_tag}: {e}")
    ctx.emit(
        ev.ArtifactPinned(
            ts=ctx.clock.now(),
            phase=st.phase,
            environment=ctx.env.name,
            image=ctx.deployed(ctx.env.name),
            digest=artifact.digest,
            detail="promoting the digest staging verified",
        )
    )
    ctx.mark(Step.PROMOTE)
