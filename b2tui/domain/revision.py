"""What a run deploys and what it would restore, as typed values.

- :class:`Artifact`: the image staging verified, by tag and content digest; production
  deploys exactly this digest.
- :class:`Revision`: what a workload runs at a point in time (the rollback target), with
  the digest of its image when known.
- :class:`Rollback`: a rollback that started (reason, who, when).

The run's state holds these; dicts exist only where they are stored or printed
(``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from b2tui.domain.images import image_label, pinned, short_digest, split_image


@dataclass(frozen=True)
class Artifact:
    """The image a run built (or was given) and staging verified."""

    ref: str
    """The tag staging deployed, e.g. ``registry/b2connect:staging-1a2b3c4`` (or the
    ``--image`` reference)."""
    digest: str
    """Its manifest digest in the registry (``sha256:…``) when staging started."""

    @property
    def repository(self) -> str:
        return split_image(self.ref)[0]

    @property
    def by_digest(self) -> str:
        """``repo@sha256:…``: what the registry is asked for before each production change."""
        return f"{self.repository}@{self.digest}"

    def pinned(self, tag_ref: str) -> str:
        """``tag_ref`` pinned to this digest: ``repo:production-1a2b3c4@sha256:…``."""
        return pinned(tag_ref, self.digest)

    @property
    def short(self) -> str:
        return short_digest(self.digest)

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "digest": self.digest}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Artifact | None:
        if not d:
            return None
        return cls(ref=str(d["ref"]), digest=str(d["digest"]))


@dataclass(frozen=True)
class Revision:
    """What a workload runs at a point in time: the rollback target."""

    deployment: str
    """Deployment that serves the known-good version."""
    revision: str
    """ReplicaSet revision number (``deployment.kubernetes.io/revision``) or colour."""
    image: str
    """Container image of that revision (a tag, or pinned ``repo:tag@sha256:…``)."""
    colour: str | None = None
    """Active colour (blue-green), None otherwise."""
    replicas: int = 1
    template_hash: str | None = None
    """``pod-template-hash`` of that revision's ReplicaSet: identifies the template even
    after Kubernetes renumbers the revision on a rollback."""
    digest: str | None = None
    """The image's manifest digest: from a pinned image reference, the pods' ``imageID``,
    or the registry when the run started; None when nothing could say."""

    @property
    def image_digest(self) -> str | None:
        """The digest of the image: the one pinned in the reference, else :attr:`digest`."""
        return split_image(self.image)[2] or self.digest

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "deployment": self.deployment,
            "revision": self.revision,
            "image": self.image,
            "colour": self.colour,
            "replicas": self.replicas,
            "template_hash": self.template_hash,
        }
        if self.digest is not None:
            d["digest"] = self.digest
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Revision:
        return cls(
            deployment=d["deployment"],
            revision=str(d["revision"]),
            image=d["image"],
            colour=d.get("colour"),
            replicas=int(d.get("replicas", 1)),
            template_hash=d.get("template_hash"),
            digest=d.get("digest"),
        )

    @classmethod
    def maybe(cls, d: dict[str, Any] | None) -> Revision | None:
        """``from_dict`` of a stored target, None for a missing or empty one."""
        return cls.from_dict(d) if d else None

    def describe(self) -> str:
        """Short text: ``b2connect rev 7 (…/b2connect:prod-1a2b3c4 sha256:0f1e2d3c4b5a)``."""
        colour = f" {self.colour}" if self.colour else ""
        return f"{self.deployment}{colour} rev {self.revision} ({self.label})"

    @property
    def label(self) -> str:
        """The image as a person reads it, with the short digest when known."""
        if split_image(self.image)[2] is not None or not self.digest:
            return image_label(self.image)
        return f"{self.image} {short_digest(self.digest)}"


@dataclass(frozen=True)
class Rollback:
    """A rollback that started: why, who asked, when (the run's clock)."""

    reason: str
    by: str
    started: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "by": self.by, "started": self.started.isoformat()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Rollback | None:
        if not d:
            return None
        return cls(
            reason=str(d["reason"]),
            by=str(d["by"]),
            started=datetime.fromisoformat(str(d["started"])),
        )
