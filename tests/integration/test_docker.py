"""DockerImages against a real dockerd and real docker-registry processes on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path

import httpx
import pytest

from b2tui.adapters.docker import DockerImages
from b2tui.config import DockerSettings
from b2tui.domain.images import image_tag
from b2tui.ports import Images, StepFailed
from tests.support.docker_services import (
    MANIFEST_TYPES,
    TEST_PASSWORD,
    TEST_USER,
    DockerEngine,
    Registry,
    auth_registry,  # noqa: F401  (fixture)
    dockerd,  # noqa: F401  (fixture)
    fresh_registry,  # noqa: F401  (fixture)
    registry,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.integration

SHA = "0123456789abcdef0123456789abcdef01234567"


class Lines:
    """An ``on_line`` sink that records lines and the thread each arrived on."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.threads: set[int] = set()

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.threads.add(threading.get_ident())

    def __str__(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(autouse=True)
def no_user_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOCKER_CONFIG: the developer's own logins and helpers stay out of it."""
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return config


def context(tmp_path: Path, dockerfile: str) -> DockerSettings:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from b2tui\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    return DockerSettings(context=str(ctx), dockerfile="Dockerfile")


def images(engine: DockerEngine, tmp_path: Path, dockerfile: str) -> DockerImages:
    settings = context(tmp_path, dockerfile)
    return DockerImages(DockerSettings(settings.context, settings.dockerfile, host=engine.url))


HELLO = "FROM scratch\nCOPY hello.txt /\n"


def test_implements_the_port() -> None:
    assert isinstance(DockerImages(DockerSettings()), Images)


async def test_build_and_push_to_registry(
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, HELLO)
    tag = image_tag(f"{registry.host}/b2test", "staging", SHA)
    build_lines, push_lines = Lines(), Lines()

    image_id = await adapter.build(tag, build_lines)
    digest = await adapter.push(tag, push_lines)

    with dockerd.client() as c:
        assert c.inspect_image(tag)["Id"] == image_id
    assert image_id.startswith("sha256:")
    assert "Step 2/2 : COPY hello.txt /" in build_lines.lines, str(build_lines)
    assert all(line == line.strip() and line for line in build_lines.lines)
    # Lines reach the sink on the loop thread, never on the worker thread.
    assert build_lines.threads == push_lines.threads == {threading.get_ident()}

    async with httpx.AsyncClient(base_url=registry.url) as http:
        tags = (await http.get("/v2/b2test/tags/list")).json()
        head = await http.head(
            "/v2/b2test/manifests/staging-0123456", headers={"Accept": MANIFEST_TYPES}
        )
    assert tags["tags"] == ["staging-0123456"]
    assert head.status_code == 200
    assert digest == head.headers["Docker-Content-Digest"]
    assert any(line.endswith(": Pushed") for line in push_lines.lines), str(push_lines)


async def test_second_push_is_idempotent_and_same_digest(
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, "FROM scratch\nCOPY hello.txt /again.txt\n")
    tag = image_tag(f"{registry.host}/b2twice", "production", SHA)
    await adapter.build(tag, Lines())
    first = await adapter.push(tag, Lines())
    again = Lines()
    assert await adapter.push(tag, again) == first
    assert any("Layer already exists" in line for line in again.lines), str(again)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        # Rejected when the daemon parses the Dockerfile: an HTTP 400 before any stream.
        ("FROM scratch\nFROBNICATE hello.txt\n", r"unknown instruction: FROBNICATE"),
        # Fails inside the stream: scratch has no shell for RUN.
        ("FROM scratch\nRUN echo hi\n", r"/bin/sh.*\(at Step 2/2 : RUN echo hi\)"),
    ],
    ids=["unknown-instruction", "run-on-scratch"],
)
async def test_broken_dockerfile_fails_with_dockers_message(
    dockerd: DockerEngine,  # noqa: F811
    tmp_path: Path,
    dockerfile: str,
    message: str,
) -> None:
    adapter = images(dockerd, tmp_path, dockerfile)
    with pytest.raises(StepFailed, match=r"^docker build failed: .*" + message) as err:
        await adapter.build("b2tui-test/broken:staging-0123456", Lines())
    assert "\n" not in str(err.value)


async def test_missing_context_and_dockerfile_name_the_path(
    dockerd: DockerEngine,  # noqa: F811
    tmp_path: Path,
) -> None:
    gone = tmp_path / "no-such-dir"
    adapter = DockerImages(DockerSettings(context=str(gone), host=dockerd.url))
    with pytest.raises(StepFailed, match=f"context directory {gone} does not exist"):
        await adapter.build("b2tui-test/x:staging-0123456", Lines())

    settings = context(tmp_path, HELLO)
    adapter = DockerImages(
        DockerSettings(settings.context, dockerfile="docker/Prod.Dockerfile", host=dockerd.url)
    )
    expected = Path(settings.context) / "docker" / "Prod.Dockerfile"
    with pytest.raises(StepFailed, match=f"Dockerfile {expected} not found"):
        await adapter.build("b2tui-test/x:staging-0123456", Lines())


async def test_stopped_registry_is_named(
    dockerd: DockerEngine,  # noqa: F811
    fresh_registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, HELLO)
    tag = image_tag(f"{fresh_registry.host}/b2down", "staging", SHA)
    await adapter.build(tag, Lines())
    fresh_registry.stop()

    with pytest.raises(StepFailed) as err:
        await adapter.push(tag, Lines())
    text = str(err.value)
    assert text.startswith(f"docker push failed: registry {fresh_registry.host} not reachable")
    assert "connection refused" in text
    assert "\n" not in text


async def test_push_without_a_local_image(
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
) -> None:
    adapter = DockerImages(DockerSettings(host=dockerd.url))
    tag = f"{registry.host}/never-built:staging-0123456"
    with pytest.raises(StepFailed, match=f"no local image {tag}; build it first"):
        await adapter.push(tag, Lines())


async def test_registry_credentials_come_from_docker_config(
    dockerd: DockerEngine,  # noqa: F811
    auth_registry: Registry,  # noqa: F811
    no_user_docker_config: Path,
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, HELLO)
    tag = image_tag(f"{auth_registry.host}/b2private", "staging", SHA)
    await adapter.build(tag, Lines())

    # No login: the registry denies, and the message names it and how to fix it.
    with pytest.raises(StepFailed) as err:
        await adapter.push(tag, Lines())
    text = str(err.value)
    assert text.startswith(f"docker push failed: registry {auth_registry.host} denied the push")
    assert f"docker login {auth_registry.host}" in text
    assert "\n" not in text

    # After a login (what `docker login` writes), the same push goes through.
    token = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()
    (no_user_docker_config / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    lines = Lines()
    digest = await adapter.push(tag, lines)
    assert digest.startswith("sha256:")
    assert any(f"credentials for {auth_registry.host}" in line for line in lines.lines)
    assert not any(TEST_PASSWORD in line or token in line for line in lines.lines)


@pytest.mark.parametrize("step", ["build", "push"])
async def test_daemon_unreachable_is_one_line(tmp_path: Path, step: str) -> None:
    url = f"unix://{tmp_path}/missing.sock"
    settings = context(tmp_path, HELLO)
    adapter = DockerImages(DockerSettings(settings.context, settings.dockerfile, host=url))
    call = adapter.build if step == "build" else adapter.push
    with pytest.raises(StepFailed) as err:
        await call("127.0.0.1:5000/b2tui:staging-0123456", Lines())
    assert str(err.value) == (
        f"Docker daemon not reachable at {url}: no socket there; is dockerd running?"
    )


async def test_calls_do_not_block_the_loop(
    dockerd: DockerEngine,  # noqa: F811
    tmp_path: Path,
) -> None:
    """While a build runs in its thread, other tasks on the loop keep running."""
    adapter = images(dockerd, tmp_path, HELLO)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        await adapter.build("b2tui-test/loop:staging-0123456", Lines())
    finally:
        done.set()
        await task
    assert ticks > 1


# --- pre-built images: a manifest HEAD on the registry --------------------------------------


async def test_check_finds_a_pushed_image_and_names_a_missing_one(
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, "FROM scratch\nCOPY hello.txt /prebuilt.txt\n")
    tag = image_tag(f"{registry.host}/b2prebuilt", "production", SHA)
    await adapter.build(tag, Lines())
    pushed = await adapter.push(tag, Lines())
    assert await DockerImages(DockerSettings(host="unix:///nowhere")).check(tag) == pushed

    missing = f"{registry.host}/b2prebuilt:production-fffffff"
    with pytest.raises(StepFailed) as err:
        await adapter.check(missing)
    assert str(err.value) == (
        f"image {missing} is not in registry {registry.host}: push it first (CI), or fix"
        " --image / [service] image"
    )


async def test_check_uses_the_docker_config_credentials(
    dockerd: DockerEngine,  # noqa: F811
    auth_registry: Registry,  # noqa: F811
    no_user_docker_config: Path,
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, HELLO)
    tag = image_tag(f"{auth_registry.host}/b2private", "production", SHA)
    await adapter.build(tag, Lines())
    with pytest.raises(StepFailed) as err:
        await adapter.check(tag)
    assert str(err.value).startswith(
        f"registry {auth_registry.host} denied reading {tag} (no credentials): run `docker login"
    )
    token = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()
    (no_user_docker_config / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    pushed = await adapter.push(tag, Lines())
    assert await adapter.check(tag) == pushed

    (no_user_docker_config / "config.json").write_text(
        json.dumps(
            {"auths": {auth_registry.host: {"auth": base64.b64encode(b"b2test:wrong").decode()}}}
        )
    )
    with pytest.raises(StepFailed, match=r"\(the credentials were refused\)"):
        await adapter.check(tag)


async def test_check_of_a_stopped_registry_is_one_line(
    fresh_registry: Registry,  # noqa: F811
) -> None:
    fresh_registry.stop()
    with pytest.raises(StepFailed) as err:
        await DockerImages(DockerSettings()).check(f"{fresh_registry.host}/gone:staging-0123456")
    text = str(err.value)
    assert text.startswith(f"registry {fresh_registry.host} not reachable at http://")
    assert "\n" not in text


# --- promotion: the same manifest under another tag, through the registry API -------------


async def test_retag_puts_the_same_manifest_under_the_new_tag_without_the_daemon(
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, "FROM scratch\nCOPY hello.txt /promoted.txt\n")
    staging = image_tag(f"{registry.host}/b2promote", "staging", SHA)
    production = image_tag(f"{registry.host}/b2promote", "production", SHA)
    await adapter.build(staging, Lines())
    digest = await adapter.push(staging, Lines())
    no_daemon = DockerImages(DockerSettings(host="unix:///nowhere"))
    source = f"{registry.host}/b2promote@{digest}"
    assert await no_daemon.check(source) == digest
    assert await no_daemon.retag(source, production) == digest
    assert await no_daemon.check(production) == digest
    # Tagged in the registry only: the daemon neither built nor pulled production's tag.
    local = {t for i in dockerd.client().images() for t in i.get("RepoTags") or []}
    assert staging in local and production not in local
    # Tagging again is harmless (same bytes, same digest).
    assert await no_daemon.retag(source, production) == digest


async def test_retag_needs_the_push_right_and_a_digest_the_registry_has(
    dockerd: DockerEngine,  # noqa: F811
    auth_registry: Registry,  # noqa: F811
    no_user_docker_config: Path,
    tmp_path: Path,
) -> None:
    adapter = images(dockerd, tmp_path, HELLO)
    staging = image_tag(f"{auth_registry.host}/b2private", "staging", SHA)
    production = image_tag(f"{auth_registry.host}/b2private", "production", SHA)
    token = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()
    (no_user_docker_config / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    await adapter.build(staging, Lines())
    digest = await adapter.push(staging, Lines())
    source = f"{auth_registry.host}/b2private@{digest}"
    assert await adapter.retag(source, production) == digest
    assert await adapter.check(production) == digest

    gone = f"{auth_registry.host}/b2private@sha256:{'0' * 64}"
    with pytest.raises(StepFailed) as err:
        await adapter.retag(gone, production)
    assert str(err.value) == f"image {gone} is not in registry {auth_registry.host} anymore"
    with pytest.raises(StepFailed, match="a tag goes in the image's own repository"):
        await adapter.retag(source, f"{auth_registry.host}/elsewhere:production-0123456")

    (no_user_docker_config / "config.json").write_text("{}")
    with pytest.raises(StepFailed) as err:
        await adapter.retag(source, production)
    assert str(err.value).startswith(f"registry {auth_registry.host} denied reading {source}")
