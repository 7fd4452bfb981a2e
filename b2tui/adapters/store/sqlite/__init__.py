"""SQLite store (WAL): runs, events, sign-offs, the audit log and the driver lease.

One file under the XDG state dir (``$XDG_STATE_HOME/b2tui/b2tui.db``) or ``--state PATH``.
By concern: :mod:`.schema` (tables, triggers, migrations), :mod:`.connection` (opening the
file, guarded reads and writes), :mod:`.runs`, :mod:`.events` (and blobs), :mod:`.audit`
(and sign-offs), :mod:`.lease`, and :mod:`.store`, where :class:`SqliteStore` joins them.

Calls are synchronous and short (single-row inserts on a local file); the engine makes
them from the event loop by design, so an event is durable before anyone sees it. Only
the lease is renewed from a thread of its own (:meth:`SqliteStore.keep_lease`), so a busy
event loop cannot lose it.
"""

from b2tui.adapters.store.sqlite.connection import default_state_path
from b2tui.adapters.store.sqlite.schema import APPLICATION_ID, SCHEMA_VERSION
from b2tui.adapters.store.sqlite.store import SqliteStore

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteStore", "default_state_path"]
