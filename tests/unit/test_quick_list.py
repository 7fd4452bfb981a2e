"""b2tui.adapters.kube_store.quick: which kubeconfigs the status line reads without the
kubernetes client, and what it sends (the request itself: tests/realkube/test_status_line.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from b2tui.adapters.kube_store.quick import endpoint


def kubeconfig(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    p = tmp_path / "config"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


PLAIN = {"server": "http://127.0.0.1:8080"}


def test_a_token_a_token_file_and_basic_auth_are_read(tmp_path: Path) -> None:
    ep = endpoint(kubeconfig(tmp_path, PLAIN, {"token": "t0k3n-abc"}), None)
    assert ep is not None and ep.headers == {"Authorization": "Bearer t0k3n-abc"}
    assert ep.server == "http://127.0.0.1:8080" and ep.user == "u" and ep.context is None
    (tmp_path / "tok").write_text("from-file\n")
    ep = endpoint(kubeconfig(tmp_path, PLAIN, {"tokenFile": "tok"}), "ctx")
    assert ep is not None and ep.headers == {"Authorization": "Bearer from-file"}
    ep = endpoint(kubeconfig(tmp_path, PLAIN, {"username": "ann", "password": "pw"}), None)
    assert ep is not None
    assert ep.headers == {"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}


def test_tls_settings_are_honoured(tmp_path: Path) -> None:
    ep = endpoint(
        kubeconfig(tmp_path, {"server": "https://h:6443", "insecure-skip-tls-verify": True}, {}),
        None,
    )
    assert ep is not None and ep.context is not None
    assert ep.context.check_hostname is False
    # A CA path relative to the kubeconfig's folder, as kubectl reads it: a missing file
    # raises, and list_configmaps then leaves it to the client, which names it.
    cfg = kubeconfig(tmp_path, {"server": "https://h:6443", "certificate-authority": "ca.pem"}, {})
    with pytest.raises(OSError):
        endpoint(cfg, None)


@pytest.mark.parametrize(
    ("cluster", "user"),
    [
        (PLAIN, {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}),
        (PLAIN, {"auth-provider": {"name": "oidc"}}),
        (PLAIN, {"client-certificate-data": "eA==", "client-key-data": "eA=="}),
        ({**PLAIN, "proxy-url": "http://proxy:3128"}, {"token": "t"}),
        ({"server": "https://h", "tls-server-name": "k"}, {"token": "t"}),
    ],
)
def test_what_only_the_client_does_is_left_to_it(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]
) -> None:
    assert endpoint(kubeconfig(tmp_path, cluster, user), None) is None


def test_several_files_an_unknown_context_or_no_file_are_left_to_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = kubeconfig(tmp_path, PLAIN, {"token": "t"})
    assert endpoint(f"{cfg}:{cfg}", None) is None
    assert endpoint(cfg, "no-such-context") is None
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert endpoint(str(tmp_path / "missing"), None) is None
