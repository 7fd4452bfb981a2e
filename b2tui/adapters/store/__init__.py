"""State stores behind the :class:`b2tui.ports.Store` port.

``sqlite`` is the embedded default (one file under the XDG state dir); the names below
are what the composition root and the tests use.
"""

from b2tui.adapters.store.common import current_person, current_user
from b2tui.adapters.store.sqlite import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SqliteStore,
    default_state_path,
)
from b2tui.ports import StoreError, StoreWriteFailed

Store = SqliteStore
"""The default store (SQLite)."""

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreWriteFailed",
    "current_person",
    "current_user",
    "default_state_path",
]
