"""A Kubernetes API server for tests, in pure Python, that real clients talk to.

Use it only for what the real control plane (``tests/realkube``: kube-apiserver +
controller-manager 1.20.2 on etcd) cannot serve: pod logs (a real apiserver serves them
from a kubelet; there is none), and requests stamped on arrival in the same process (the
rollback benchmark). HTTP 500s, slow answers and cut watch streams come from the proxy in
front of the real server (``tests/realkube/proxy.py``, ``tests/realkube/test_faults.py``).
The real server covers: Deployments → ReplicaSets → Pods with real revisions and
``pod-template-hash``, rollout conditions (ProgressDeadlineExceeded), defaulting and
validation, networking.k8s.io/v1 Ingress, a Gateway API HTTPRoute CRD, server-side apply
(``fieldManager``), ``dryRun=All``, RBAC 403s for a real user or ServiceAccount, watch
resume from a resourceVersion and 410 Gone after an etcd compaction, and the request
order (from its audit log) — see ``tests/realkube/test_kube_adapter.py``.

``KubeApiServer`` serves the resources b2tui uses over plain HTTP on 127.0.0.1 with
watches, patches, dry runs and a Deployment → ReplicaSet → Pod controller, so the
official ``kubernetes`` client and ``kubectl`` work against it unchanged::

    with KubeApiServer(ready_delay=0.1) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="staging")
        api.apply_yaml(Path("tests/fixtures/staging.yaml").read_text())
"""

from .server import KubeApiServer

__all__ = ["KubeApiServer"]
