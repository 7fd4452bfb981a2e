"""``manifests`` naming a Kustomize directory: rendered by the real ``kubectl kustomize``
(offline, no cluster needed); one clear line when that cannot happen."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2tui.adapters.kube.apply import load_manifests
from b2tui.ports import StepFailed
from tests.support.kustomize import overlay
from tests.support.services import require_binary


def test_an_overlay_is_rendered_with_kubectl_kustomize(tmp_path: Path) -> None:
    require_binary("kubectl", "kubectl")
    over = overlay(tmp_path, "shop-staging", replicas=3)
    docs = {d["kind"]: d for _, d in load_manifests((str(over),))}
    assert set(docs) == {"Deployment", "Service"}
    dep = docs["Deployment"]
    assert dep["metadata"]["namespace"] == "shop-staging"
    assert dep["spec"]["replicas"] == 3
    assert dep["metadata"]["annotations"]["b2tui.dev/overlay"] == "staging"


def test_without_kubectl_one_line_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    over = overlay(tmp_path, "shop-staging")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(StepFailed) as err:
        load_manifests((str(over),))
    assert str(err.value) == (
        f"manifest {over} is a Kustomize directory: rendering it needs kubectl on the PATH"
        " (install kubectl, or render it to a file and name that file)"
    )


def test_a_directory_without_kustomization_and_a_broken_one(tmp_path: Path) -> None:
    require_binary("kubectl", "kubectl")
    empty = tmp_path / "plain"
    empty.mkdir()
    with pytest.raises(StepFailed, match=r"is a directory without kustomization\.yaml"):
        load_manifests((str(empty),))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(StepFailed) as err:
        load_manifests((str(broken),))
    text = str(err.value)
    assert text.startswith(f"kubectl kustomize {broken} failed: ") and "\n" not in text
