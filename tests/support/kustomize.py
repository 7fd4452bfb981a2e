"""A Kustomize base (``tests/fixtures/staging.yaml`` without its Namespace) and an overlay
that moves it to a namespace and sets the Deployment's replicas: the layout teams keep."""

from __future__ import annotations

from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def overlay(root: Path, namespace: str, replicas: int = 3) -> Path:
    """Write ``root/base`` and ``root/overlays/staging``; return the overlay directory."""
    base = root / "base"
    base.mkdir(parents=True)
    docs = [d for d in yaml.safe_load_all((FIXTURES / "staging.yaml").read_text()) if d]
    for d in docs:
        if d["kind"] != "Namespace":
            d["metadata"].pop("namespace", None)
            (base / f"{d['kind'].lower()}.yaml").write_text(yaml.safe_dump(d))
    (base / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": ["deployment.yaml", "service.yaml"]})
    )
    over = root / "overlays" / "staging"
    over.mkdir(parents=True)
    patch = [{"op": "replace", "path": "/spec/replicas", "value": replicas}]
    (over / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": ["../../base"],
                "namespace": namespace,
                "commonAnnotations": {"b2tui.dev/overlay": "staging"},
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "web"},
                        "patch": yaml.safe_dump(patch),
                    }
                ],
            }
        )
    )
    return over
