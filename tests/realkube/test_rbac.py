"""``deploy/rbac.yaml`` on the real apiserver: enough for a whole run, and nothing more.

The Role, RoleBinding and ServiceAccount are applied as written (only the namespace
changed); the controller-manager's token controller makes the ServiceAccount's token
Secret, and every call below goes with THAT token. The apiserver's audit log then says
which (API group, resource, verb) the ServiceAccount used: that set must be exactly the
Role's rules (every grant used, nothing refused), so the Role is least privilege for
what b2tui does.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.config import HttpCheck
from b2tui.domain.phases import Strategy, Traffic
from b2tui.ports import StepFailed
from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, production, rbac_docs, staging_manifest
from tests.realkube.test_kube_adapter import HTTPROUTE, NEW, OLD, settle

pytestmark = pytest.mark.integration


def granted(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    role = next(d for d in docs if d["kind"] == "Role")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def sa_user(ns: str) -> str:
    return f"system:serviceaccount:{ns}:b2tui"


def sa_kubeconfig(realkube: RealKube, ns: str, path: Path) -> Path:
    """Apply deploy/rbac.yaml to ``ns``; a kubeconfig with its ServiceAccount's token."""
    for doc in rbac_docs(ns):
        realkube.apply(doc)
    token = realkube.service_account_token(ns, "b2tui")
    return realkube.write_kubeconfig(
        path, token=token, namespace=ns, user_name=f"b2tui@{ns}", context="test"
    )


async def test_deploy_rbac_is_enough_for_every_kube_call_and_no_more(
    realkube: RealKube, httproute_crd: None, tmp_path: Path
) -> None:
    mark = realkube.audit_mark()
    namespaces = {k: realkube.namespace(f"rbac-{k}") for k in ("staging", "prod", "bg")}
    configs = {k: sa_kubeconfig(realkube, ns, tmp_path / k) for k, ns in namespaces.items()}

    # staging: server-side apply of Deployment + Service + ConfigMap, rollout, pods, logs.
    ns = namespaces["staging"]
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-settings"},
        "data": {"LOG_LEVEL": "info"},
    }
    manifest = staging_manifest(ns, tmp_path, extra=(settings,))
    staging = replace(production(ns), name="staging", manifests=(manifest,))
    kube = KubeCluster(str(configs["staging"]), watch_timeout=2)
    try:
        await kube.deploy(staging, "registry.local/web:staging-abc1234")
        await settle(kube, staging)
        assert len(await kube.pods(staging)) == 2
        # No kubelet serves logs here: the apiserver authorizes `get pods/log`, then
        # answers 400, which scan_logs reads as "nothing to scan yet".
        counts = await kube.scan_logs(staging, ("(?i)exception",), 60)
        assert counts == {"(?i)exception": 0}
        assert [w.name for w in await kube.workloads(staging)] == ["web"]
    finally:
        kube.close()
    assert realkube.get("v1", "ConfigMap", ns, "web-settings") is not None

    # production, canary by replicas, then by ingress-nginx weight, then by HTTPRoute.
    ns = namespaces["prod"]
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=ns)
    realkube.apply_yaml(HTTPROUTE, namespace=ns)
    prod = production(ns)
    kube = KubeCluster(str(configs["prod"]), watch_timeout=2)
    try:
        assert await kube.check_target(prod) == []
        await settle(kube, prod)
        known_good = await kube.current_revision(prod)
        await kube.set_canary(prod, NEW, 5)
        await settle(kube, prod, "canary")
        assert len(await kube.pods(prod)) >= 4
        await kube.set_canary(prod, NEW, 50)
        assert (await kube.rollback(prod, known_good)).changed
        assert not (await kube.rollback(prod, known_good)).changed

        # The canary's smoke before its first weight: the preview Service on its pods, an
        # NGINX and an HTTPRoute header route; then it is taken away.
        previewed = replace(prod, preview_service="web-preview")
        await kube.canary_preview(previewed, NEW, 5)
        check = HttpCheck(url="http://shop/healthz", retries=0)
        assert not (await kube.preview_check(previewed, check)).passed
        assert await kube.withdraw_canary(previewed)
        nginx = replace(prod, traffic=Traffic.NGINX, ingress="web")
        await kube.canary_preview(replace(nginx, canary_header="X-Canary"), NEW, 10)
        await kube.set_canary(nginx, NEW, 10)
        assert (await kube.traffic(nginx)).achieved_percent == 10.0
        assert (await kube.rollback(nginx, known_good)).changed

        gateway = replace(prod, traffic=Traffic.GATEWAY, route="web")
        await kube.canary_preview(replace(gateway, canary_header="X-Canary"), NEW, 20)
        await kube.set_canary(gateway, NEW, 20)
        await kube.promote(gateway, NEW)
        await settle(kube, gateway)
        assert (await kube.current_revision(prod)).image == NEW
    finally:
        kube.close()

    # production, blue-green.
    ns = namespaces["bg"]
    realkube.apply_yaml((FIXTURES / "bluegreen.yaml").read_text(), namespace=ns)
    bg = replace(production(ns), strategy=Strategy.BLUE_GREEN)
    kube = KubeCluster(str(configs["bg"]), watch_timeout=2)
    try:
        known_good = await kube.current_revision(bg)
        assert await kube.stage_colour(bg, NEW) == "green"
        await settle(kube, bg, "green")
        # The preview Service and checks through the service proxy (GET and POST): no
        # pod answers here, the request is authorized all the same.
        preview = replace(bg, preview_service="web-preview")
        await kube.preview(preview, "green")
        for method in ("GET", "POST"):
            check = HttpCheck(url="http://shop/healthz", method=method, retries=0)
            assert not (await kube.preview_check(preview, check)).passed
        await kube.switch_colour(bg, "green")
        await kube.retire_colour(bg, "blue")
        assert (await kube.rollback(bg, known_good)).changed
        assert (await kube.current_revision(bg)).image == OLD
    finally:
        kube.close()

    used: set[tuple[str, str, str]] = set()
    refused = []
    for ns in namespaces.values():
        for r in realkube.audit(user=sa_user(ns), since=mark):
            if not r.resource:
                continue  # discovery (/api, /apis/...): every authenticated user may
            if r.code == 403:
                refused.append((r.verb, r.resource, r.uri))
            used.add((r.group, r.resource, r.verb))
            if r.verb == "patch" and r.code == 201:
                # A server-side apply that created the object: the apiserver authorized
                # `create` as well (not a request of its own in the audit log).
                used.add((r.group, r.resource, "create"))
    # Reading the Namespace object is cluster-scoped: a Role cannot grant it, and
    # check_target falls back to the Deployment (deploy/rbac.yaml says so).
    assert {(v, res) for v, res, _ in refused} <= {("get", "namespaces")}, refused
    used.discard(("", "namespaces", "get"))
    assert used == granted(rbac_docs("x")), (
        f"used but not granted: {sorted(used - granted(rbac_docs('x')))};"
        f" granted but never used: {sorted(granted(rbac_docs('x')) - used)}"
    )


def without(docs: list[dict[str, Any]], resource: str, verb: str) -> dict[str, Any]:
    """The Role of ``docs`` without ``verb`` on ``resource``."""
    role = next(d for d in docs if d["kind"] == "Role")
    for rule in role["rules"]:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    role["rules"] = [r for r in role["rules"] if r["verbs"]]
    return role


@pytest.mark.parametrize(
    ("resource", "verb"), [("deployments/scale", "patch"), ("configmaps", "create")]
)
async def test_a_missing_verb_is_one_forbidden_line(
    realkube: RealKube, kube_ns: str, tmp_path: Path, resource: str, verb: str
) -> None:
    path = sa_kubeconfig(realkube, kube_ns, tmp_path / "kubeconfig")
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=kube_ns)
    realkube.request(
        "PUT",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{kube_ns}/roles/b2tui",
        json=without(rbac_docs(kube_ns), resource, verb),
    )
    manifest = tmp_path / "settings.yaml"
    manifest.write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-settings, namespace: {kube_ns}}}\n"
    )
    prod = replace(production(kube_ns), manifests=(str(manifest),))
    kube = KubeCluster(str(path))
    try:
        # A Role change reaches the authorizer's cache within a moment.
        for _ in range(100):
            try:
                if verb == "create":
                    await kube.deploy(prod, NEW)  # a server-side apply that creates
                else:
                    await kube.set_canary(prod, NEW, 5)
            except StepFailed as e:
                error = str(e)
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"still allowed without {verb} {resource}")
    finally:
        kube.close()
    assert error == (
        f"forbidden: cannot {verb} {resource} in namespace {kube_ns}"
        f" (as user {sa_user(kube_ns)}); grant it in the Role (see deploy/rbac.yaml)"
    )
