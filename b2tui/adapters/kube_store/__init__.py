"""The Kubernetes store (``[store] backend = "kube"``): Lease + ConfigMaps, intents.

See :mod:`b2tui.adapters.kube_store.store` for the objects and their rules. The names
below are loaded on first use (PEP 562): ``b2tui status --line`` imports
:mod:`.quick` and :mod:`.objects` of this package without the kubernetes client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b2tui.adapters.kube_store.intents import KubeIntents, kube_person, kube_user
    from b2tui.adapters.kube_store.store import KubeStore
    from b2tui.config import Settings

__all__ = [
    "KubeIntents",
    "KubeStore",
    "kube_person",
    "kube_store_at",
    "kube_user",
    "open_kube_store",
]

_WHERE = {
    "KubeIntents": "intents",
    "kube_person": "intents",
    "kube_user": "intents",
    "KubeStore": "store",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def store_place(settings: Settings, env: str = "production") -> tuple[str | None, str]:
    """(kube context, namespace) of the store: ``[store] context``/``namespace``,
    defaulting to environment ``env``'s."""
    target = settings.environment(env)
    return settings.store.context or target.context, settings.store.namespace or target.namespace


def open_kube_store(
    settings: Settings, env: str = "production", kubeconfig: str | None = None
) -> KubeStore:
    """The kube store of ``settings`` (see :func:`store_place`). Raises
    :class:`~b2tui.ports.StoreError` with one line."""
    context, namespace = store_place(settings, env)
    return kube_store_at(context, namespace, settings.path, kubeconfig)


def kube_store_at(
    context: str | None, namespace: str, config: str | None, kubeconfig: str | None = None
) -> KubeStore:
    """The kube store in ``namespace`` through ``context`` (:func:`open_kube_store` once
    the place is known; ``config`` names the file in errors)."""
    from b2tui.adapters.kube.client import connect, default_kubeconfig
    from b2tui.adapters.kube.errors import KubeApiError
    from b2tui.adapters.kube_store.store import KubeStore
    from b2tui.ports import StoreError

    try:
        conn = connect(kubeconfig or default_kubeconfig(), context)
    except KubeApiError as e:
        raise StoreError(f"kube store ([store] in {config}): {e}") from None
    return KubeStore(conn, namespace)
