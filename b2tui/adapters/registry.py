"""Does the registry have this image? A manifest HEAD on the registry v2 API.

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


async def manifest_digest(ref: str, *, timeout: float = 10.0) -> str:
    """The digest of ``ref`` in its registry (``Docker-Content-Digest``).

    Raises:
        StepFailed: one line — not in the registry, access denied, or not reachable.
    """
    registry, name, version = split_reference(ref)
    creds = await asyncio.to_thread(_credentials, registry)
    url = f"{_base_url(registry)}/v2/{name}/manifests/{version}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            resp = await http.head(url, headers=headers)
            if resp.status_code == 401:
                auth = await _authorize(http, resp, creds, name)
                if auth is not None:
                    resp = await http.head(url, headers={**headers, **auth})
    except httpx.HTTPError as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        m = re.search(r"\[Errno -?\d+\] ([^']+)", reason)
        raise StepFailed(
            f"registry {registry} not reachable at {_base_url(registry)}:"
            f" {(m.group(1) if m else reason).lower()}"
        ) from None
    if resp.status_code == 200:
        return resp.headers.get("Docker-Content-Digest") or "digest not reported"
    if resp.status_code == 404:
        raise StepFailed(
            f"image {ref} is not in registry {registry}: push it first (CI), or fix"
            " --image / [service] image"
        )
    if resp.status_code in (401, 403):
        how = "the credentials were refused" if creds else "no credentials"
        raise StepFailed(
            f"registry {registry} denied reading {ref} ({how}): run `docker login"
            f" {registry}` or check {_config_path()}"
        )
    raise StepFailed(f"registry {registry}: HEAD {url} answered HTTP {resp.status_code}")


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
