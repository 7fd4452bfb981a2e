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
