"""Image references a run builds and deploys: ``<repository>:<env>-<shortsha>``."""

from __future__ import annotations

import re

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_tag(image: str, env: str, sha: str) -> str:
    """The image reference a run builds: ``<image>:<env>-<sha[:7]>``.

    Args:
        image: Repository without a tag, e.g. ``registry.example.com/b2connect``.
        env: Environment name, e.g. ``staging``.
        sha: Commit SHA (full or abbreviated, at least 7 hex digits).

    Raises:
        ValueError: ``image`` already carries a tag or digest, the SHA is too short or
            not hex, or the result is not a valid Docker tag.
    """
    last = image.rsplit("/", 1)[-1]
    if not image or ":" in last or "@" in image:
        raise ValueError(f"image {image!r} must be a repository without tag or digest")
    short = sha.strip().lower()[:7]
    if len(short) < 7 or not re.fullmatch(r"[0-9a-f]{7}", short):
        raise ValueError(f"commit sha {sha!r} must have at least 7 hex digits")
    tag = f"{env}-{short}"
    if not _TAG_RE.match(tag):
        raise ValueError(f"tag {tag!r} is not a valid Docker tag (environment name {env!r})")
    return f"{image}:{tag}"


_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def is_digest(value: str) -> bool:
    """True for a full ``sha256:<64 hex>`` content digest."""
    return bool(_DIGEST_RE.match(value))


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag or None, digest or None) of ``repo[:tag][@sha256:…]``.

    A colon before the last slash belongs to a registry's port, not to a tag.
    """
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def pinned(ref: str, digest: str) -> str:
    """``ref`` pinned to ``digest``: ``repo:tag@sha256:…`` (a digest it had is replaced).

    The tag stays for people reading the pod template; the runtime pulls by digest.
    """
    repo, tag, _ = split_image(ref)
    return f"{repo}{f':{tag}' if tag else ''}@{digest}"


def short_digest(digest: str | None) -> str:
    """``sha256:1a2b3c4d5e6f`` (12 hex digits, as ``docker images`` shortens ids); ``""``
    for None."""
    if not digest:
        return ""
    algo, _, hexes = digest.partition(":")
    return f"{algo}:{hexes[:12]}" if hexes else digest[:19]


def image_label(ref: str) -> str:
    """How a person reads an image reference: ``repo:tag sha256:1a2b3c4d5e6f`` for a pinned
    one, the reference itself otherwise."""
    repo, tag, digest = split_image(ref)
    if digest is None:
        return ref
    return f"{repo}{f':{tag}' if tag else ''} {short_digest(digest)}"
