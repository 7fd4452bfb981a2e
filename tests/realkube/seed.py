"""Objects the real-cluster tests seed: environments, manifests, deploy/rbac.yaml."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from b2tui.config import EnvironmentSettings, Settings
from b2tui.ports import Target

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
RBAC = ROOT / "deploy" / "rbac.yaml"


def production(ns: str) -> Target:
    """Production's cluster target in namespace ``ns`` (what the kube adapter takes)."""
    return Target.of(production_settings(ns))


def production_settings(ns: str) -> EnvironmentSettings:
    return EnvironmentSettings(
        name="production",
        context="test",
        namespace=ns,
        deployment="web",
        service="web",
        rollout_timeout=30.0,
    )


def staging_manifest(
    ns: str, tmp_path: Path, extra: tuple[dict[str, Any], ...] = (), **deployment_spec: Any
) -> str:
    """``staging.yaml`` moved to namespace ``ns`` (its Namespace document dropped), with
    ``extra`` documents after it."""
    docs = [d for d in yaml.safe_load_all((FIXTURES / "staging.yaml").read_text()) if d]
    out = []
    for d in docs:
        if d["kind"] == "Namespace":
            continue
        d["metadata"]["namespace"] = ns
        if d["kind"] == "Deployment":
            d["spec"].update(deployment_spec)
        out.append(d)
    out.extend({**d, "metadata": {**d["metadata"], "namespace": ns}} for d in extra)
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump_all(out))
    return str(path)


def on_real_kube(settings: Settings, ns_p: str, ns_s: str, workdir: Path) -> Settings:
    """``settings`` with production as ``web`` in ``ns_p`` (seeded by the caller from
    ``production.yaml``) and staging as ``web`` in ``ns_s`` (applied by the run from
    ``staging.yaml``, written to ``workdir``), on the kubeconfig context ``test``. Rollout
    timeouts are run time: at 60× the real control plane needs 3,600 s of it."""

    def on(env: str, ns: str, **kw: Any) -> EnvironmentSettings:
        return dataclasses.replace(
            settings.environment(env),
            context="test",
            namespace=ns,
            deployment="web",
            service="web",
            selector=f'namespace="{ns}",app="web"',
            replicas=None,
            rollout_timeout=3600.0,
            **kw,
        )

    envs = {
        "staging": on("staging", ns_s, manifests=(staging_manifest(ns_s, workdir),)),
        "production": on("production", ns_p),
    }
    return dataclasses.replace(settings, environments=envs)


def rbac_docs(ns: str, *more: str) -> list[dict[str, Any]]:
    """deploy/rbac.yaml (and the other ``deploy/`` files named in ``more``) as a user
    applies them to namespace ``ns``."""
    docs = [
        d
        for path in (RBAC, *(RBAC.parent / f for f in more))
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]
    for d in docs:
        d["metadata"]["namespace"] = ns
        for s in d.get("subjects") or []:
            if s.get("kind") == "ServiceAccount":
                s["namespace"] = ns
    return docs
