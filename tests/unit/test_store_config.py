"""[store]: the backend choice, its errors, and the commands that need the kube store."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2tui import cli
from b2tui.config import ConfigError, parse_settings

ENVS = """
[environments.staging]
namespace = "s"

[environments.production]
namespace = "shop"
context = "prod"
"""


def test_sqlite_is_the_default_and_kube_takes_a_namespace() -> None:
    assert parse_settings(ENVS).store.backend == "sqlite"
    s = parse_settings('[store]\nbackend = "kube"\nnamespace = "b2tui"\n' + ENVS)
    assert (s.store.backend, s.store.namespace, s.store.context) == ("kube", "b2tui", None)


def test_an_unknown_backend_is_one_line_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings('[store]\nbackend = "etcd"\n' + ENVS, "b.toml")
    assert e.value.problems == ["b.toml:2: store.backend: expected one of sqlite | kube"]


def test_attach_needs_the_kube_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(ENVS)
    assert cli.main(["attach", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'set [store] backend = "kube"' in err[0]


def test_state_path_with_the_kube_store_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text('[store]\nbackend = "kube"\n' + ENVS)
    state = tmp_path / "x.db"
    assert cli.main(["history", "--config", str(cfg), "--state", str(state)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--state is for the SQLite store" in err[0]


def test_an_unreachable_kube_store_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text('[store]\nbackend = "kube"\n' + ENVS)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli.main(["history", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kube store" in err[0] and "not found" in err[0], err
