"""A Kubernetes API server for tests, in pure Python, that real clients talk to.

``KubeApiServer`` serves the resources b2tui uses over plain HTTP on 127.0.0.1 with
watches, patches, dry runs and a Deployment → ReplicaSet → Pod controller, so the
official ``kubernetes`` client and ``kubectl`` work against it unchanged::

    with KubeApiServer(ready_delay=0.1) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="staging")
        api.apply_yaml(Path("tests/fixtures/staging.yaml").read_text())
"""

from .server import KubeApiServer

__all__ = ["KubeApiServer"]
