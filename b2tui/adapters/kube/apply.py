"""Server-side apply of an environment's manifests (staging, ``direct``).

Every file of ``manifests`` (relative to the current directory, multi-document YAML) is
applied with field manager ``b2tui``; an entry that is a directory is a Kustomize
directory (base or overlay), rendered with ``kubectl kustomize`` first. The Deployment's
app container gets the image *inside* the applied object, so one apply makes one rollout.

Ports without ``protocol`` get ``protocol: TCP`` (the API's own default) before the
apply: server-side apply before Kubernetes 1.20's successors rejects a Service port
without it ("associative list with keys has an element that omits key field protocol",
kubernetes/kubernetes#92332), and manifests written for newer clusters omit it.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.ports import StepFailed, Target

FIELD_MANAGER = "b2tui"

APPLY_KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Service"): ("services", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("httproutes", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
}
"""(apiVersion, kind) → (resource, namespaced) known without asking discovery."""


POD_TEMPLATE_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
)


def fill_port_protocols(doc: dict[str, Any]) -> None:
    """``protocol: TCP`` on every Service port and container port that has none."""

    def fill(ports: Any) -> None:
        for port in ports if isinstance(ports, list) else ():
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"

    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    kind = doc.get("kind")
    if kind == "Service":
        fill(spec.get("ports"))
        return
    pod_spec: Any = None
    if kind == "Pod":
        pod_spec = spec
    elif kind in POD_TEMPLATE_KINDS:
        pod_spec = (spec.get("template") or {}).get("spec")
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod_spec = (job.get("template") or {}).get("spec")
    if isinstance(pod_spec, dict):
        for key in ("initContainers", "containers"):
            for c in pod_spec.get(key) or ():
                if isinstance(c, dict):
                    fill(c.get("ports"))


KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_TIMEOUT = 60.0


def kustomize(name: str) -> str:
    """The YAML ``kubectl kustomize <name>`` renders; StepFailed says what is missing."""
    path = Path(name)
    if not any((path / k).is_file() for k in KUSTOMIZATIONS):
        raise StepFailed(
            f"manifest {name} is a directory without kustomization.yaml: name YAML files,"
            " or a Kustomize directory"
        )
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise StepFailed(
            f"manifest {name} is a Kustomize directory: rendering it needs kubectl on the"
            " PATH (install kubectl, or render it to a file and name that file)"
        )
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(path)],
            capture_output=True,
            text=True,
            timeout=KUSTOMIZE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed(
            f"kubectl kustomize {name} did not finish in {KUSTOMIZE_TIMEOUT:g} s"
        ) from None
    except OSError as e:
        raise StepFailed(f"cannot run {kubectl}: {e.strerror or e}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise StepFailed(
            f"kubectl kustomize {name} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
        )
    return done.stdout


def load_manifests(files: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(file, document) for every non-empty YAML document of ``files`` (a directory is
    rendered by Kustomize); StepFailed names the file (and line) of the first problem."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for name in files:
        path = Path(name)
        try:
            text = kustomize(name) if path.is_dir() else path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StepFailed(
                f"manifest {name} not found (paths are relative to {Path.cwd()})"
            ) from None
        except OSError as e:
            raise StepFailed(f"cannot read manifest {name}: {e.strerror}") from None
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise StepFailed(f"{name}{line}: not valid YAML: {problem}") from None
        for i, doc in enumerate(loaded):
            if doc is None:
                continue
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                raise StepFailed(f"{name}: document {i + 1} has no kind/apiVersion")
            docs.append((name, doc))
    return docs


def resource_of(api: Api, api_version: str, kind: str) -> tuple[str, bool] | None:
    """(resource, namespaced) of a kind: known, else from discovery as kubectl does."""
    known = APPLY_KINDS.get((api_version, kind))
    if known:
        return known
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    try:
        doc = json.loads(api.request(Op("get", "discovery"), "GET", base))
    except KubeApiError:
        return None
    for r in doc.get("resources") or []:
        if r.get("kind") == kind and "/" not in r.get("name", ""):
            return str(r["name"]), bool(r.get("namespaced"))
    return None


def apply_manifests(api: Api, target: Target, image: str) -> None:
    """Apply the target's manifests with ``image`` in its Deployment.

    Without the Deployment among the manifests, the live one gets the image by a patch.
    """
    docs = load_manifests(target.manifests)
    image_set = False
    query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
    for file, doc in docs:
        doc = copy.deepcopy(doc)
        fill_port_protocols(doc)
        api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
        meta = doc.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise StepFailed(f"{file}: a {kind} has no metadata.name")
        res = resource_of(api, api_version, kind)
        if res is None:
            raise StepFailed(
                f"{file}: kind {kind} ({api_version}) is not served by the API server at"
                f" {api.conn.url}"
            )
        plural, namespaced = res
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            ns = meta.setdefault("namespace", target.namespace)
            path = f"{base}/namespaces/{ns}/{plural}/{name}"
        else:
            ns = None
            path = f"{base}/{plural}/{name}"
        if kind == "Deployment" and name == target.deployment and o.containers(doc):
            # The image goes into the applied object: one apply, one rollout (not the
            # manifest's placeholder image first and ours a moment later).
            o.with_image(doc["spec"], target.deployment, image)
            image_set = True
        api.request(
            # No name: a 404 here means the namespace is missing; show the server's words.
            Op("apply", plural, ns),
            "PATCH",
            path,
            query=query,
            body=doc,
            content_type="application/apply-patch+yaml",
        )
    if not image_set:
        deploy = api.deployment(target.namespace, target.deployment)
        api.set_image(target, target.deployment, deploy, image)
