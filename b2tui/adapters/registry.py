"""The registry v2 API: does it have this image (a manifest HEAD), and tag a manifest
without pulling it (GET the manifest, PUT it under the new tag).

For an image CI built (``run --image REF``, ``[service] prebuilt = true``): before any
environment is touched, ``HEAD /v2/<name>/manifests/<tag or digest>`` with the Docker
client configuration's credentials (``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``, credential helpers included, read through the docker SDK).
A registry that answers 401 gets what its ``WWW-Authenticate`` challenge asks for: basic
credentials, or a bearer token from its token service (Docker Hub, GHCR, Harbor …).
Loopback registries are spoken to over plain HTTP, as the Docker daemon does by default;
every other one over HTTPS.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
from typing import Any

import httpx
from docker import auth as docker_auth
from docker.errors import DockerException
from docker.utils import parse_repository_tag
from docker.utils.config import config_path_from_environment, find_config_file

from b2tui.masking import register
from b2tui.ports import StepFailed

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
HUB = "index.docker.io"


def split_reference(ref: str) -> tuple[str, str, str]:
    """(registry host, repository path, tag or digest) of an image reference.

    Raises:
        StepFailed: the reference names neither a tag nor a digest.
    """
    repository, version = parse_repository_tag(ref)
    if not version:
        raise StepFailed(f"image {ref} names no tag or digest: give REPOSITORY:TAG")
    registry, name = docker_auth.resolve_repository_name(repository)
    if registry == HUB and "/" not in name:
        name = f"library/{name}"
    return registry, name, version


def _base_url(registry: str) -> str:
    if registry == HUB:
        return "https://registry-1.docker.io"
    host = registry.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return f"{'http' if loopback else 'https'}://{registry}"


def _config_path() -> str:
    return str(find_config_file() or config_path_from_environment() or "~/.docker/config.json")


def _credentials(registry: str) -> tuple[str, str] | None:
    """(user, secret) for ``registry`` from the Docker config, or None (anonymous)."""
    try:
        found = docker_auth.load_config().resolve_authconfig(registry)
    except DockerException as e:
        raise StepFailed(
            f"cannot read credentials for {registry} from {_config_path()}:"
            f" {' '.join(str(e).split())}"
        ) from None
    if not found:
        return None
    user = found.get("username") or found.get("Username") or ""
    secret = (
        found.get("password")
        or found.get("Password")
        or found.get("identitytoken")
        or found.get("IdentityToken")
        or ""
    )
    register(secret)
    return (str(user), str(secret)) if secret else None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {realm, service, …})."""
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def _unreachable(registry: str, e: httpx.HTTPError) -> StepFailed:
    reason = " ".join(str(e).split()) or type(e).__name__
    m = re.search(r"\[Errno -?\d+\] ([^']+)", reason)
    return StepFailed(
        f"registry {registry} not reachable at {_base_url(registry)}:"
        f" {(m.group(1) if m else reason).lower()}"
    )


async def _send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    creds: tuple[str, str] | None,
    name: str,
    headers: dict[str, str],
    content: bytes | None = None,
) -> httpx.Response:
    """One registry request; a 401 is answered with what its challenge asks for, once."""
    resp = await http.request(method, url, headers=headers, content=content)
    if resp.status_code == 401:
        auth = await _authorize(http, resp, creds, name)
        if auth is not None:
            resp = await http.request(method, url, headers={**headers, **auth}, content=content)
    return resp


def _denied(registry: str, what: str, creds: tuple[str, str] | None) -> StepFailed:
    how = "the credentials were refused" if creds else "no credentials"
    return StepFailed(
        f"registry {registry} denied {what} ({how}): run `docker login"
        f" {registry}` or check {_config_path()}"
    )


async def manifest_digest(ref: str, *, timeout: float = 10.0) -> str:
    """The digest of ``ref`` in its registry (``Docker-Content-Digest``).

    Raises:
        StepFailed: one line — not in the registry, access denied, or not reachable.
    """
    registry, name, version = split_reference(ref)
    creds = await asyncio.to_thread(_credentials, registry)
    url = f"{_base_url(registry)}/v2/{name}/manifests/{version}"
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            resp = await _send(
                http, "HEAD", url, creds=creds, name=name, headers={"Accept": MANIFEST_TYPES}
            )
    except httpx.HTTPError as e:
        raise _unreachable(registry, e) from None
    if resp.status_code == 200:
        digest = resp.headers.get("Docker-Content-Digest")
        if not digest and version.startswith("sha256:"):
            digest = version  # asked by digest: the answer is that digest
        return digest or "digest not reported"
    if resp.status_code == 404:
        raise StepFailed(
            f"image {ref} is not in registry {registry}: push it first (CI), or fix"
            " --image / [service] image"
        )
    if resp.status_code in (401, 403):
        raise _denied(registry, f"reading {ref}", creds)
    raise StepFailed(f"registry {registry}: HEAD {url} answered HTTP {resp.status_code}")


async def retag(source: str, tag_ref: str, *, timeout: float = 30.0) -> str:
    """Put the manifest ``source`` (``repo@sha256:…``) under the tag of ``tag_ref``.

    The registry v2 API's way to tag without pulling: ``GET`` the manifest by digest
    (with the manifest media types in ``Accept``), ``PUT`` the same bytes under the new
    tag with its ``Content-Type``. The blobs are already there; nothing is built or
    pulled. Returns the digest the registry reports for the tag (the same bytes give the
    same digest).

    Raises:
        StepFailed: another repository than the source's, the manifest is gone, access
            denied (pushing needs the push right), or the registry is not reachable.
    """
    registry, name, digest = split_reference(source)
    to_registry, to_name, tag = split_reference(tag_ref)
    if (to_registry, to_name) != (registry, name):
        raise StepFailed(
            f"cannot tag {source} as {tag_ref}: a tag goes in the image's own repository"
            f" ({registry}/{name})"
        )
    creds = await asyncio.to_thread(_credentials, registry)
    base = f"{_base_url(registry)}/v2/{name}/manifests"
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            got = await _send(
                http,
                "GET",
                f"{base}/{digest}",
                creds=creds,
                name=name,
                headers={"Accept": MANIFEST_TYPES},
            )
            if got.status_code == 404:
                raise StepFailed(f"image {source} is not in registry {registry} anymore")
            if got.status_code in (401, 403):
                raise _denied(registry, f"reading {source}", creds)
            if got.status_code != 200:
                raise StepFailed(
                    f"registry {registry}: GET {base}/{digest} answered HTTP {got.status_code}"
                )
            media = got.headers.get("Content-Type", "").split(";")[0].strip()
            put = await _send(
                http,
                "PUT",
                f"{base}/{tag}",
                creds=creds,
                name=name,
                headers={"Content-Type": media},
                content=got.content,
            )
    except httpx.HTTPError as e:
        raise _unreachable(registry, e) from None
    if put.status_code in (401, 403):
        raise _denied(registry, f"tagging {tag_ref}", creds)
    if put.status_code not in (200, 201):
        detail = " ".join(put.text.split())[:200]
        raise StepFailed(
            f"registry {registry}: PUT {base}/{tag} answered HTTP {put.status_code}"
            + (f": {detail}" if detail else "")
        )
    return put.headers.get("Docker-Content-Digest") or digest


async def _authorize(
    http: httpx.AsyncClient, resp: httpx.Response, creds: tuple[str, str] | None, name: str
) -> dict[str, str] | None:
    """The Authorization header the 401's challenge asks for (None: nothing to offer)."""
    scheme, params = _challenge(resp.headers.get("WWW-Authenticate", ""))
    basic = httpx.BasicAuth(*creds) if creds else None
    if scheme == "basic":
        if basic is None:
            return None
        assert creds is not None
        pair = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        register(pair)
        return {"Authorization": f"Basic {pair}"}
    if scheme == "bearer" and params.get("realm"):
        query: dict[str, Any] = {"scope": params.get("scope") or f"repository:{name}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        token_resp = await http.get(
            params["realm"], params=query, auth=basic or httpx.USE_CLIENT_DEFAULT
        )
        if token_resp.status_code != 200:
            return None
        doc = token_resp.json()
        token = doc.get("token") or doc.get("access_token")
        if not token:
            return None
        register(str(token))
        return {"Authorization": f"Bearer {token}"}
    return None
