"""Build and push images with the docker SDK's low-level API, streaming progress.

:class:`DockerImages` implements the :class:`~b2tui.ports.Images` port. The SDK is
blocking, so every call runs in a worker thread (``asyncio.to_thread``); output lines
are handed back to the event loop with ``loop.call_soon_threadsafe`` so the engine's
``on_line`` callback only ever runs on the loop thread.

The low-level API reports most build and push failures *inside* the JSON stream (HTTP
200 followed by a chunk carrying ``error``/``errorDetail``), while a few (a Dockerfile
that does not parse, a missing Dockerfile) come back as HTTP errors before the stream
starts. Both end up as one-line :class:`~b2tui.ports.StepFailed` messages that say
what failed, where, and what to do about it.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import requests
from docker import auth as docker_auth
from docker.errors import APIError, DockerException
from docker.utils import kwargs_from_env, parse_repository_tag
from docker.utils.config import config_path_from_environment, find_config_file

from b2tui.config import DockerSettings
from b2tui.masking import register
from b2tui.ports import LineSink, StepFailed

_DEFAULT_HOST = "unix:///var/run/docker.sock"


# Substrings of daemon messages that mean the registry refused our credentials.
_DENIED = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied",
    "forbidden",
    "401",
    "403",
)
# Substrings that mean the daemon could not talk to the registry at all.
_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "dial tcp",
    "network is unreachable",
    "connection reset",
    "server gave http response to https client",
)

PROGRESS_INTERVAL = 0.5
"""Seconds between two progress lines of the same layer (status changes always pass)."""
PROGRESS_STEP = 10.0
"""Percent a layer must advance to be reported before ``PROGRESS_INTERVAL`` elapsed."""


def _one_line(text: object) -> str:
    """Collapse a daemon message (often multi-line) into one line."""
    return " ".join(str(text).split())


def _error_of(chunk: Mapping[str, Any]) -> str | None:
    """The error message a stream chunk carries, if any."""
    detail = chunk.get("errorDetail")
    if isinstance(detail, Mapping) and detail.get("message"):
        return _one_line(detail["message"])
    if chunk.get("error"):
        return _one_line(chunk["error"])
    return None


def _percent(detail: object) -> float | None:
    if not isinstance(detail, Mapping):
        return None
    current, total = detail.get("current"), detail.get("total")
    if not isinstance(current, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    # The daemon reports uncompressed totals for compressed uploads, so current may
    # exceed total; cap rather than print "412 %".
    return min(100.0, 100.0 * current / total)


class PushProgress:
    """Turns the daemon's per-layer push chunks into few, compact lines.

    A large layer produces a "Pushing" chunk for every few kilobytes; the control room
    runs over SSH on a jump host, so a layer's progress is shown at most every
    :data:`PROGRESS_INTERVAL` seconds or every :data:`PROGRESS_STEP` percent. Status
    changes (Preparing, Pushed, Layer already exists…) are always shown.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, tuple[str, float, float]] = {}
        """Layer id → (status, time, percent) of the last emitted line."""

    def line(self, chunk: Mapping[str, Any]) -> str | None:
        """The line to show for ``chunk``, or None to drop it."""
        status = _one_line(chunk.get("status", ""))
        if not status:
            return None
        layer = chunk.get("id")
        if not layer:
            return status
        now = self._clock()
        pct = _percent(chunk.get("progressDetail"))
        previous = self._last.get(layer)
        if previous is not None and previous[0] == status:
            _, then, last_pct = previous
            advanced = pct is not None and pct - last_pct >= PROGRESS_STEP
            if now - then < PROGRESS_INTERVAL and not advanced:
                return None
        self._last[layer] = (status, now, pct if pct is not None else 0.0)
        progress = str(chunk.get("progress") or "")
        # "[=====>     ]  2.048kB/10MB" → "2.048kB/10MB": the bar is noise in a log line.
        amount = progress.rsplit("]", 1)[-1].strip()
        return f"{layer}: {status} {amount}".rstrip()


class DockerImages:
    """The :class:`~b2tui.ports.Images` port on a Docker Engine.

    Args:
        settings: Build context, Dockerfile (relative to the context, as the Engine API
            and Compose read it) and daemon URL. With ``host`` unset the usual
            ``DOCKER_HOST`` / ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` environment
            applies, then the default socket.

    Registry credentials come from the Docker client configuration
    (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, including credential
    helpers), read at each push so a ``docker login`` done meanwhile is picked up.
    """

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings

    # --- public API --------------------------------------------------------------------

    @property
    def daemon_url(self) -> str:
        """The daemon URL this adapter talks to (for messages; never holds a secret)."""
        return self.settings.host or os.environ.get("DOCKER_HOST") or _DEFAULT_HOST

    async def build(self, tag: str, on_line: LineSink) -> str:
        """Build ``tag`` from the configured context and return the image id.

        Build output (``Step 2/5 : COPY …``, command output) is streamed to ``on_line``
        one line at a time.

        Raises:
            StepFailed: the context or Dockerfile is missing, the Dockerfile does not
                parse, a step failed, or the daemon is not reachable.
        """
        return await self._in_thread(self._build, tag, on_line)

    async def push(self, tag: str, on_line: LineSink) -> str:
        """Push ``tag`` to its registry and return the manifest digest (``sha256:…``).

        Per-layer progress is streamed to ``on_line`` (rate-limited, see
        :class:`PushProgress`).

        Raises:
            StepFailed: the registry denied the push, is not reachable, the image does
                not exist locally, or the daemon is not reachable.
        """
        return await self._in_thread(self._push, tag, on_line)

    async def check(self, tag: str) -> str:
        """The digest of ``tag`` in its registry, for an image CI built (no daemon needed).

        Raises:
            StepFailed: not in the registry, access denied, or the registry is down.
        """
        from b2tui.adapters.registry import manifest_digest

        return await manifest_digest(tag)

    async def retag(self, source: str, tag_ref: str) -> str:
        """Tag the manifest ``source`` as ``tag_ref`` through the registry API (no daemon).

        Raises:
            StepFailed: see :func:`b2tui.adapters.registry.retag`.
        """
        from b2tui.adapters.registry import retag

        return await retag(source, tag_ref)

    # --- threading ---------------------------------------------------------------------

    async def _in_thread(
        self,
        work: Callable[[str, Callable[[str], None], threading.Event], str],
        tag: str,
        on_line: LineSink,
    ) -> str:
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def emit(text: str) -> None:
            # The engine's sink touches loop-side state (and, through it, the UI); it
            # must never run on this worker thread.
            loop.call_soon_threadsafe(on_line, text)

        try:
            return await asyncio.to_thread(work, tag, emit, cancelled)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: it stops at the next chunk it reads and
            # releases the streaming response, whose closed connection makes the daemon
            # abandon the build/push. A step silent for long ends only when it ends.
            cancelled.set()
            raise

    def _client(self) -> docker.APIClient:
        kwargs: dict[str, Any] = (
            {"base_url": self.settings.host} if self.settings.host else kwargs_from_env()
        )
        try:
            # Constructing the client negotiates the API version: the first request.
            return docker.APIClient(**kwargs)
        except DockerException as e:
            raise self._unreachable(e) from None

    def _unreachable(self, error: BaseException) -> StepFailed:
        text = str(error)
        if "No such file or directory" in text or "FileNotFoundError" in text:
            why = "no socket there"
        elif "Permission denied" in text or "PermissionError" in text:
            why = "permission denied on the socket (add your user to the docker group)"
        elif "Connection refused" in text:
            why = "connection refused"
        elif "timed out" in text.lower():
            why = "timed out"
        else:
            why = _one_line(text)[:200]
        return StepFailed(
            f"Docker daemon not reachable at {self.daemon_url}: {why}; is dockerd running?"
        )

    def _stream(
        self, open_stream: Callable[[], Iterator[Any]], what: str
    ) -> Iterator[Mapping[str, Any]]:
        """Chunks of a streaming call, with transport errors turned into StepFailed."""
        try:
            for chunk in open_stream():
                if isinstance(chunk, Mapping):
                    yield chunk
        except APIError as e:
            message = _one_line(e.explanation or e)
            raise StepFailed(f"docker {what} failed: {message}") from None
        except requests.exceptions.ConnectionError as e:
            raise self._unreachable(e) from None
        except requests.exceptions.ReadTimeout:
            raise StepFailed(
                f"docker {what} failed: the daemon at {self.daemon_url} stopped answering"
            ) from None

    # --- build -------------------------------------------------------------------------

    def _build(self, tag: str, emit: Callable[[str], None], cancelled: threading.Event) -> str:
        context = Path(self.settings.context).expanduser()
        if not context.is_dir():
            raise StepFailed(
                f"docker build failed: context directory {context.resolve()} does not exist"
                " (set [docker] context in b2tui.toml)"
            )
        dockerfile = Path(self.settings.dockerfile)
        located = dockerfile if dockerfile.is_absolute() else context / dockerfile
        if not located.is_file():
            raise StepFailed(
                f"docker build failed: Dockerfile {located.resolve()} not found"
                " (set [docker] dockerfile, relative to the context)"
            )
        image_id: str | None = None
        step = ""
        pending = ""
        with self._client() as client:
            chunks = self._stream(
                lambda: client.build(
                    path=str(context),
                    dockerfile=str(dockerfile),
                    tag=tag,
                    decode=True,
                    rm=True,
                ),
                "build",
            )
            for chunk in chunks:
                if cancelled.is_set():
                    break
                error = _error_of(chunk)
                if error is not None:
                    where = f" (at {step})" if step else ""
                    raise StepFailed(f"docker build failed: {error}{where}")
                aux = chunk.get("aux")
                if isinstance(aux, Mapping) and isinstance(aux.get("ID"), str):
                    image_id = aux["ID"]
                if "stream" in chunk:
                    # A "stream" chunk is not a line: the daemon splits "Step 1/2 : …"
                    # and its "\n" into separate chunks. Reassemble whole lines.
                    pending += str(chunk["stream"])
                    *lines, pending = pending.split("\n")
                    for raw in lines:
                        line = raw.strip()
                        # A bare "--->" (FROM scratch has no id) says nothing.
                        if line and line != "--->":
                            if line.startswith("Step "):
                                step = line
                            emit(line)
                elif chunk.get("status"):
                    emit(_one_line(chunk["status"]))
            if pending.strip():
                emit(pending.strip())
            if cancelled.is_set():
                raise StepFailed("docker build cancelled")
            if image_id is None:
                # Daemons without the aux ID chunk (very old API versions).
                try:
                    image_id = str(client.inspect_image(tag)["Id"])
                except APIError as e:
                    raise StepFailed(
                        f"docker build failed: built, but {tag} not found afterwards:"
                        f" {_one_line(e.explanation or e)}"
                    ) from None
        return image_id

    # --- push --------------------------------------------------------------------------

    def _push(self, tag: str, emit: Callable[[str], None], cancelled: threading.Event) -> str:
        repository, version = parse_repository_tag(tag)
        if not version or version.startswith("sha256:"):
            raise StepFailed(f"docker push failed: {tag} has no tag to push")
        registry, _ = docker_auth.resolve_repository_name(repository)
        credentials = self._credentials(registry, emit)
        digest: str | None = None
        progress = PushProgress()
        with self._client() as client:
            kwargs: dict[str, Any] = {"tag": version, "stream": True, "decode": True}
            if credentials:
                kwargs["auth_config"] = credentials
            for chunk in self._stream(lambda: client.push(repository, **kwargs), "push"):
                if cancelled.is_set():
                    raise StepFailed("docker push cancelled")
                error = _error_of(chunk)
                if error is not None:
                    raise self._push_failed(tag, registry, error)
                aux = chunk.get("aux")
                if isinstance(aux, Mapping) and isinstance(aux.get("Digest"), str):
                    digest = aux["Digest"]
                line = progress.line(chunk)
                if line:
                    emit(line)
                    if digest is None:
                        # Older daemons only say "<tag>: digest: sha256:… size: N".
                        m = re.search(r"digest: (sha256:[0-9a-f]{64})", line)
                        digest = m.group(1) if m else None
        if digest is None:
            raise StepFailed(f"docker push failed: {registry} did not report a digest for {tag}")
        return digest

    def _credentials(self, registry: str, emit: Callable[[str], None]) -> dict[str, Any] | None:
        """Credentials for ``registry`` from the Docker config, or None (anonymous)."""
        try:
            config = docker_auth.load_config()
            found = config.resolve_authconfig(registry)
        except DockerException as e:
            # Credential-helper failures; the message names the helper, not the secret.
            raise StepFailed(
                f"docker push failed: cannot read credentials for {registry}: {_one_line(e)}"
            ) from None
        if found:
            for key in ("password", "identitytoken", "registrytoken", "auth"):
                register(found.get(key) or found.get(key.capitalize()))
            # Say where the credentials came from, never what they are.
            emit(f"using credentials for {registry} from {find_config_file()}")
            return dict(found)
        return None

    def _push_failed(self, tag: str, registry: str, error: str) -> StepFailed:
        lowered = error.lower()
        if "does not exist locally" in lowered:
            return StepFailed(f"docker push failed: no local image {tag}; build it first")
        if any(s in lowered for s in _UNREACHABLE):
            return StepFailed(
                f"docker push failed: registry {registry} not reachable ({error});"
                " is it running and is the address right?"
            )
        if any(s in lowered for s in _DENIED):
            config = find_config_file() or config_path_from_environment() or "~/.docker/config.json"
            return StepFailed(
                f"docker push failed: registry {registry} denied the push ({error});"
                f" run `docker login {registry}` or check the credentials in {config}"
            )
        return StepFailed(f"docker push failed: {error}")
