"""The sandbox's only source of randomness: stable hashes, and the names made from them.

Everything that varies per seed — pod names, readiness delays, nodes, metric noise,
tool durations — comes from a hash of the seed and the thing's identity, never from
``random``: the same seed plays the same world on every run and platform.
"""

from __future__ import annotations

import hashlib

from b2tui.domain.images import split_image

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Characters Kubernetes uses for generated names (no vowels, no look-alikes)."""


def digest(*parts: object) -> int:
    """A stable 64-bit hash of ``parts`` (the same on every run and platform)."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts``: the sandbox's only source of noise."""
    return digest(*parts) / 2.0**64


def encode(n: int, length: int) -> str:
    """``n`` written as ``length`` characters of :data:`ALPHABET` (least significant first)."""
    out = []
    for _ in range(length):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def image_digest(image: str) -> str:
    """A plausible manifest digest of an image the sandbox did not push itself (what was
    running before the demo): the one pinned in the reference, else derived from it."""
    _, _, digest = split_image(image)
    return digest or "sha256:" + hashlib.sha256(f"manifest\x1f{image}".encode()).hexdigest()


def template_hash(deployment: str, image: str) -> str:
    """``pod-template-hash`` of a Deployment's template (9–10 characters, like Kubernetes).

    It depends on the template only (the Deployment and its image), not on the seed:
    the same template always gets the same ReplicaSet, which is what makes a rollback
    reuse the old one.
    """
    n = digest("template", deployment, image)
    return encode(n >> 1, 9 + (n & 1))
