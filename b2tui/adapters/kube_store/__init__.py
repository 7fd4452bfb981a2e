"""The Kubernetes store (``[store] backend = "kube"``): Lease + ConfigMaps, intents.

See :mod:`b2tui.adapters.kube_store.store` for the objects and their rules.
"""

from __future__ import annotations

from b2tui.adapters.kube_store.intents import KubeIntents, kube_person, kube_user
from b2tui.adapters.kube_store.store import KubeStore
from b2tui.config import Settings

__all__ = ["KubeIntents", "KubeStore", "kube_person", "kube_user", "open_kube_store"]


def open_kube_store(
    settings: Settings, env: str = "production", kubeconfig: str | None = None
) -> KubeStore:
    """The kube store of ``settings``: ``[store] context``/``namespace``, defaulting to
    environment ``env``'s. Raises :class:`~b2tui.ports.StoreError` with one line."""
    from b2tui.adapters.kube.client import connect, default_kubeconfig
    from b2tui.adapters.kube.errors import KubeApiError
    from b2tui.ports import StoreError

    target = settings.environment(env)
    context = settings.store.context or target.context
    namespace = settings.store.namespace or target.namespace
    try:
        conn = connect(kubeconfig or default_kubeconfig(), context)
    except KubeApiError as e:
        raise StoreError(f"kube store ([store] in {settings.path}): {e}") from None
    return KubeStore(conn, namespace)
