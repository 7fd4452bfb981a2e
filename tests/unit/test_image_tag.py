"""``image_tag``: the image reference a run builds and deploys."""

from __future__ import annotations

import pytest

from b2tui.domain.images import image_tag


def test_tag_is_env_and_short_sha() -> None:
    sha = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
    assert image_tag("registry.example.com/b2connect", "staging", sha) == (
        "registry.example.com/b2connect:staging-1a2b3c4"
    )


def test_registry_port_is_not_mistaken_for_a_tag() -> None:
    assert image_tag("127.0.0.1:5000/team/app", "production", "ABCDEF0123") == (
        "127.0.0.1:5000/team/app:production-abcdef0"
    )


@pytest.mark.parametrize(
    ("image", "env", "sha", "complaint"),
    [
        ("registry.example.com/b2connect:latest", "staging", "1a2b3c4", "without tag"),
        ("b2connect@sha256:" + "0" * 64, "staging", "1a2b3c4", "without tag"),
        ("b2connect", "staging", "1a2b3c", "7 hex digits"),
        ("b2connect", "staging", "not-a-sha", "7 hex digits"),
        ("b2connect", "stag ing", "1a2b3c4", "not a valid Docker tag"),
        ("", "staging", "1a2b3c4", "without tag"),
    ],
)
def test_rejects_what_docker_would_reject(image: str, env: str, sha: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        image_tag(image, env, sha)
