"""What a command works on: the settings of a b2tui.toml (its secrets registered for
masking first) and the configured store (SQLite, or ``[store] backend = "kube"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from b2tui.cli.parser import UsageError
from b2tui.config import Settings, find_config, load_settings
from b2tui.masking import register_settings


def open_store(
    path: str | None,
    *,
    read_only: bool = False,
    settings: Settings | None = None,
    env: str = "production",
) -> Any:
    """The configured store: ``[store] backend = "kube"`` of ``settings``, else SQLite."""
    from b2tui.adapters.store import Store, default_state_path

    if settings is not None and settings.store.backend == "kube":
        from b2tui.adapters.kube_store import open_kube_store

        if path:
            raise UsageError(
                f'--state is for the SQLite store; {settings.path} sets [store] backend = "kube"'
            )
        return open_kube_store(settings, env)
    return Store(Path(path) if path else default_state_path(), read_only=read_only)


def load(path: str | None) -> Settings:
    """The settings of ``path`` (None: ./b2tui.toml), their secrets registered for masking."""
    if path is None:
        found = find_config()
        if found is None:
            raise UsageError("no --config given and no ./b2tui.toml; create one with `b2tui init`")
        path = str(found)
    settings = load_settings(path)
    register_settings(settings)  # before anything can print, store or send a secret
    return settings
