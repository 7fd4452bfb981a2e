"""Records built from other records: one dataclass from the same-named fields of another.

Event ↔ verdict (:class:`~b2tui.domain.events.GateSampled` and its
:class:`~b2tui.domain.gates.GateResult`), environment settings → cluster target: the
pairs share their field names on purpose, so the copy is written once here.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_R = TypeVar("_R", bound="DataclassInstance")


def copy_fields(cls: type[_R], source: object, **given: Any) -> _R:
    """A ``cls`` with ``given`` fields, the others taken from ``source``'s same-named attributes.

    Raises:
        AttributeError: ``source`` lacks a field of ``cls`` that is not ``given``.
    """
    taken = {f.name: getattr(source, f.name) for f in fields(cls) if f.name not in given}
    return cls(**taken, **given)
