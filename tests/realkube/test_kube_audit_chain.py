"""The kube store's audit log is hash-chained on the real control plane: two writers at
once keep one chain, and an entry edited with the API afterwards is named by
``b2tui audit --verify``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from b2tui import cli
from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeStore
from tests.realkube.cluster import RealKube

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, ns: str) -> Path:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        f'[service]\nname = "b2connect"\n[store]\nbackend = "kube"\nnamespace = "{ns}"\n'
        '[environments.staging]\nnamespace = "s"\n[environments.production]\nnamespace = "p"\n'
    )
    return cfg


def _verify(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "--config", str(cfg), "--verify"])
    said = capsys.readouterr()
    return code, said.out + said.err


def test_kube_audit_chain_names_an_entry_edited_with_the_api(
    realkube: RealKube,
    kube_ns: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = realkube.write_kubeconfig(tmp_path / "kc", user="tester", namespace=kube_ns)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # Small chunks: the chains run across several ConfigMaps.
    stores = [KubeStore(connect(str(kubeconfig), None), kube_ns, chunk_bytes=700) for _ in "ab"]

    def write(n: int) -> None:  # two hosts writing the audit outside runs at once
        for i in range(8):
            stores[n].audit(None, f"user{n}", "rollback", f"entry {i} of writer {n}")

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        stores[0].audit("r1", "ana", "sign-off", f"item {i}", accepted=i % 2 == 0)
    cfg = _config(tmp_path, kube_ns)
    code, said = _verify(cfg, capsys)
    assert code == 0, said
    assert "22 entries, chain intact" in said, said

    # Someone with patch on ConfigMaps rewrites what an entry says, afterwards.
    chunks = realkube.list("v1", "ConfigMap", kube_ns, "b2tui.io/kind=audit")
    assert len(chunks) > 2, "the test means to span chunks"
    victim = next(
        (c, k)
        for c in chunks
        if c["metadata"]["name"].startswith("b2tui-run-r1-audit")
        for k, v in sorted(c["data"].items())
        if json.loads(v)["detail"] == "item 3"
    )
    obj, key = victim
    record = json.loads(obj["data"][key])
    listed = [e for e in stores[0].audit_log() if e.detail == "item 3"]
    assert len(listed) == 1
    record["accepted"] = True
    record["detail"] = "item 3 (approved)"
    realkube.patch(
        "v1", "ConfigMap", kube_ns, obj["metadata"]["name"], {"data": {key: json.dumps(record)}}
    )
    code, said = _verify(cfg, capsys)
    assert code == 1, said
    assert f"entry {listed[0].id} does not match: its content does not match its hash" in said

    # Put back, the chain holds again; a record removed from the middle breaks the link.
    realkube.patch(
        "v1", "ConfigMap", kube_ns, obj["metadata"]["name"], {"data": {key: obj["data"][key]}}
    )
    assert _verify(cfg, capsys)[0] == 0
    outside = sorted(
        (c for c in chunks if c["metadata"]["name"].startswith("b2tui-audit-")),
        key=lambda c: c["metadata"]["name"],
    )[0]
    first, second = sorted(outside["data"])[:2]
    name = outside["metadata"]["name"]
    realkube.patch("v1", "ConfigMap", kube_ns, name, {"data": {first: None}})
    orphan = json.loads(outside["data"][second])["hash"]
    after = next(e for e in stores[0].audit_log() if e.hash == orphan)
    code, said = _verify(cfg, capsys)
    assert code == 1, said
    assert f"entry {after.id} does not match: its link to the entry before" in said, said
    for s in stores:
        s.close()
