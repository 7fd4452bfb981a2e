"""Build once, promote by digest: on the sandbox, on virtual time."""

from __future__ import annotations

from collections.abc import Callable

from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Phase, Strategy
from tests.engine.conftest import Rig

Make = Callable[..., Rig]
REPO = "registry.sandbox/b2connect"


async def _production_images(rig: Rig) -> set[str]:
    env = rig.conductor.target
    return {p.image for p in await rig.sandbox.ports.cluster.pods(env) if p.ready}


async def test_production_runs_the_digest_staging_verified_and_builds_once(
    make_rig: Make,
) -> None:
    rig = make_rig("happy")
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    images = rig.sandbox.world.images
    built = [tag for tag, i in images.items() if i["id"] and tag.endswith("-1a2b3c4")]
    staging = images[f"{REPO}:staging-1a2b3c4"]
    # One build and push (staging's); production's tag is the same manifest, put by tag.
    assert [e.line for e in rig.of(ev.LogLine) if e.line.startswith("building ")] == [
        f"building {REPO}:staging-1a2b3c4"
    ]
    assert sorted(built) == [f"{REPO}:production-1a2b3c4", f"{REPO}:staging-1a2b3c4"]
    assert images[f"{REPO}:production-1a2b3c4"] == staging
    digest = staging["digest"]
    assert digest is not None and digest.startswith("sha256:")
    assert await _production_images(rig) == {f"{REPO}:production-1a2b3c4@{digest}"}
    pinned = rig.of(ev.ArtifactPinned)
    assert [(p.environment, p.digest) for p in pinned] == [
        ("staging", digest),
        ("production", digest),
    ]
    assert pinned[1].phase is Phase.PRODUCTION
    texts = [t.text for t in rig.conductor.view.timeline]
    assert f"promoting the digest staging verified (production-1a2b3c4 {digest[:19]})" in texts
    assert rig.conductor.view.digest == digest
    # The next run's rollback target is that pinned revision, digest included.
    state = rig.conductor.state
    assert state is not None and state.artifact is not None
    assert state.artifact.digest == digest


async def test_a_tag_that_moved_after_staging_is_refused_with_both_digests(
    make_rig: Make,
) -> None:
    rig = make_rig("happy", strategy=Strategy.BLUE_GREEN)
    before = await _production_images(rig)
    c = rig.conductor
    await c.start(version="1a2b3c4d")
    await c.run_until(lambda v: v.phase is Phase.SMOKE)
    tag = f"{REPO}:staging-1a2b3c4"
    verified = rig.sandbox.world.images[tag]["digest"]
    moved = "sha256:" + "e" * 64
    rig.sandbox.world.images[tag] = {"id": "sha256:other", "digest": moved}
    rig.clock.release()
    await c.run_until(lambda v: v.finished)
    finished = rig.of(ev.RunFinished)[-1]
    assert (finished.outcome, finished.phase) == ("aborted", Phase.PRODUCTION)
    assert f"tag {tag} moved since staging" in finished.reason
    assert f"staging verified {verified}" in finished.reason
    assert f"the registry now has {moved}" in finished.reason
    assert c.state is not None and not c.state.production_touched
    assert not rig.of(ev.TrafficChanged) and await _production_images(rig) == before


async def test_a_digest_gone_from_the_registry_aborts_before_production(
    make_rig: Make,
) -> None:
    rig = make_rig("happy")
    before = await _production_images(rig)
    c = rig.conductor
    await c.start(version="1a2b3c4d")
    await c.run_until(lambda v: v.phase is Phase.SMOKE)
    rig.sandbox.world.images.clear()  # garbage-collected, say
    rig.clock.release()
    await c.run_until(lambda v: v.finished)
    finished = rig.of(ev.RunFinished)[-1]
    assert (finished.outcome, finished.phase) == ("aborted", Phase.PRODUCTION)
    assert "not in the sandbox registry" in finished.reason
    assert not rig.of(ev.TrafficChanged) and await _production_images(rig) == before
