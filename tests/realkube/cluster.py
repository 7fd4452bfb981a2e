"""A real Kubernetes control plane on loopback: etcd + kube-apiserver + controller-manager.

``RealKube`` starts Debian's ``etcd`` and the kube-apiserver / kube-controller-manager
1.20.2 that ``tests/realkube/build.sh`` builds, each on free 127.0.0.1 ports, with a
per-session temporary directory (data, self-signed serving certificates, ServiceAccount
keys, a static token file) and RBAC authorization. There is no scheduler and no kubelet:
``FakeKubelet`` (a thread) gives pods the status a kubelet would write, so Deployments
roll out, and on request makes chosen pods crash-loop.

    with RealKube() as kube:
        ns = kube.namespace("shop")
        kube.apply_yaml(Path("tests/fixtures/production.yaml").read_text(), namespace=ns)
        kube.write_kubeconfig(tmp_path / "kubeconfig", user="tester")

Every process runs in its own process group, dies with the Python process that started
it (``PR_SET_PDEATHSIG``) and is stopped by ``stop()``, by the ``with`` block, or at the
latest by ``atexit``: no etcd or apiserver outlives a failed or killed test session.

Two flags need a reason: ``--port=0`` keeps 1.20's controller-manager off an insecure
port on 0.0.0.0; ``--endpoint-reconciler-type=none`` because no kubelet or node exists.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

VERSION = "1.20.2"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "b2tui"
BIN = CACHE / f"kube-v{VERSION}" / "bin"
"""Where ``tests/realkube/build.sh`` (``make kube``) puts the binaries."""

NOT_BUILT = "real kube-apiserver not built: run `make kube` (tests/realkube/build.sh)"
"""The one line a test prints when the binaries are missing."""

STARTUP_TIMEOUT = 90.0
"""Seconds etcd and the apiserver may take to become ready (3–7 s on an idle machine)."""

ADMIN = "admin"
"""The user in group ``system:masters`` the fixtures and the controller-manager use."""

USERS: dict[str, tuple[str, ...]] = {
    ADMIN: ("system:masters",),
    "tester": (),
    "nobody": (),
    "dave": ("leads",),
    "erin": ("devs",),
    "frank": ("devs",),
}
"""Users of the static token file, with their groups. The apiserver reads the file once
at start, so every user a test may need is here. ``tester`` is bound to the
``cluster-admin`` ClusterRole (all rights, but its own name in the audit log: the
requests b2tui made are those of ``tester``); ``nobody`` has no rights until a test binds
a Role to it; ``dave`` (group ``leads``), ``erin`` and ``frank`` (group ``devs``) have
none either: the sign-off tests bind Roles to their groups."""


def binaries() -> dict[str, str] | None:
    """Paths of the four programs, or None when one is missing."""
    found = {
        "kube-apiserver": str(BIN / "kube-apiserver"),
        "kube-controller-manager": str(BIN / "kube-controller-manager"),
        "etcd": shutil.which("etcd") or "",
        "etcdctl": shutil.which("etcdctl") or "",
    }
    ok = all(os.access(p, os.X_OK) for p in found.values() if p) and all(found.values())
    return found if ok else None


def missing_reason() -> str | None:
    """One line saying what is missing, or None when the control plane can start."""
    if not (
        os.access(BIN / "kube-apiserver", os.X_OK)
        and os.access(BIN / "kube-controller-manager", os.X_OK)
    ):
        return NOT_BUILT
    for prog, pkg in (("etcd", "etcd-server"), ("etcdctl", "etcd-client"), ("openssl", "openssl")):
        if shutil.which(prog) is None:
            return f"{prog} not found: install it with `apt-get install {pkg}`"
    return None


# --- processes ---------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_LIVE: set[RealKube] = set()


@atexit.register
def _stop_all() -> None:
    for kube in list(_LIVE):
        kube.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class StartupError(RuntimeError):
    """A control-plane process did not come up; the message carries its log tail."""


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, grace: float = 10.0) -> None:
        p = self.popen
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)


# --- the control plane -------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResource:
    """One resource type as the server's discovery documents describe it."""

    group_version: str
    """``v1`` or ``apps/v1``."""
    name: str
    """Plural resource name, e.g. ``deployments``."""
    kind: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{ns}/{self.name}" + (f"/{name}" if name else "")


class RealKube:
    """etcd + kube-apiserver + kube-controller-manager + a fake kubelet on loopback.

    Args:
        workdir: where data, certificates and logs go (a new temporary directory when
            None; removed by ``stop()`` only when it was created here).
    """

    def __init__(self, workdir: Path | None = None) -> None:
        bins = binaries()
        reason = missing_reason()
        if bins is None or reason is not None:
            raise FileNotFoundError(reason or NOT_BUILT)
        self.bins = bins
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="b2tui-realkube-"))
        self.tokens: dict[str, str] = {u: uuid.uuid4().hex for u in USERS}
        self.etcd_port = _free_port()
        self.port = _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.audit_log = self.dir / "audit.log"
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self._procs: list[_Proc] = []
        self._client: httpx.Client | None = None
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._ns_seq = itertools.count(1)
        self.kubelet: FakeKubelet | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> RealKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RealKube:
        _LIVE.add(self)
        try:
            self._prepare()
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
            self.apply(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "b2tui-tests-tester"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "tester"}
                    ],
                }
            )
            self.kubelet = FakeKubelet(self)
            self.kubelet.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the kubelet thread and every process (newest first); idempotent."""
        _LIVE.discard(self)
        kubelet, self.kubelet = self.kubelet, None
        if kubelet is not None:
            kubelet.stop(join=False)
        if self._client is not None:
            self._client.close()
            self._client = None
        for proc in reversed(self._procs):
            # The apiserver waits for open watches for up to 60 s on SIGTERM; its state is
            # thrown away, so it gets 2 s before SIGKILL.
            proc.stop(grace=2.0 if proc.name == "kube-apiserver" else 10.0)
        self._procs.clear()
        if kubelet is not None:  # its watch ended with the apiserver
            kubelet.stop()
        if self._own_dir and self.dir.exists() and not os.environ.get("B2TUI_KEEP_REALKUBE"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def ca_file(self) -> Path:
        """The apiserver's self-signed serving certificate (with its CA), for verification."""
        return self.dir / "certs" / "apiserver.crt"

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> _Proc:
        log = self.dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env={**os.environ, **(env or {})},
            )
        proc = _Proc(name, popen, log)
        self._procs.append(proc)
        return proc

    def _wait(self, proc: _Proc, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise StartupError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{_log_tail(proc.log)}"
                )
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise StartupError(f"{what} not ready after {STARTUP_TIMEOUT:.0f}s:\n{_log_tail(proc.log)}")

    def _prepare(self) -> None:
        (self.dir / "certs").mkdir(parents=True, exist_ok=True)
        for args in (
            ["openssl", "genrsa", "-out", "sa.key", "2048"],
            ["openssl", "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
        ):
            subprocess.run(args, cwd=self.dir, check=True, capture_output=True)
        lines = []
        for user, groups in USERS.items():
            group_field = f',"{",".join(groups)}"' if groups else ""
            lines.append(f"{self.tokens[user]},{user},uid-{user}{group_field}")
        (self.dir / "tokens.csv").write_text("\n".join(lines) + "\n")
        # Metadata of every request once it has completed (or, for a watch, started): the
        # tests read which requests a user made, in order, from it (audit()).
        (self.dir / "audit-policy.yaml").write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
            "rules:\n  - level: Metadata\n"
        )
        self.write_kubeconfig(self.dir / "admin.kubeconfig", user=ADMIN, context="admin")

    def _start_etcd(self) -> None:
        peer = f"http://127.0.0.1:{_free_port()}"
        proc = self._spawn(
            "etcd",
            [
                self.bins["etcd"],
                "--name=b2tui",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=b2tui={peer}",
                "--log-level=warn",
            ],
        )
        self._wait(
            proc,
            lambda: httpx.get(f"{self.etcd_url}/health", timeout=1).json().get("health") == "true",
            "etcd",
        )

    def _start_apiserver(self) -> None:
        proc = self._spawn(
            "kube-apiserver",
            [
                self.bins["kube-apiserver"],
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--advertise-address=127.0.0.1",
                f"--cert-dir={self.dir / 'certs'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self.dir / 'sa.pub'}",
                f"--service-account-signing-key-file={self.dir / 'sa.key'}",
                "--api-audiences=https://kubernetes.default.svc",
                f"--token-auth-file={self.dir / 'tokens.csv'}",
                f"--audit-policy-file={self.dir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--authorization-mode=RBAC",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                # Watches and lists go to etcd itself, so a compaction (compact()) makes an
                # older resourceVersion answer 410 Gone at once; with the watch cache that
                # happens only once its window (100 events per type) has moved past it.
                "--watch-cache=false",
                "--logtostderr=true",
                "--v=0",
            ],
        )
        self._wait(proc, lambda: self.http.get("/readyz").status_code == 200, "kube-apiserver")

    def _start_controller_manager(self) -> None:
        cm_dir = self.dir / "controller-manager"
        cm_dir.mkdir(exist_ok=True)
        self._spawn(
            "kube-controller-manager",
            [
                self.bins["kube-controller-manager"],
                f"--kubeconfig={self.dir / 'admin.kubeconfig'}",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={self.dir / 'sa.key'}",
                f"--root-ca-file={self.ca_file}",
                "--bind-address=127.0.0.1",
                f"--secure-port={_free_port()}",
                "--port=0",
                f"--cert-dir={cm_dir}",
                "--logtostderr=true",
                "--v=0",
            ],
        )
        # Ready when it works: the ServiceAccount controller made `default` in `default`.
        self._wait(
            self._procs[-1],
            lambda: (
                self.http.get("/api/v1/namespaces/default/serviceaccounts/default").status_code
                == 200
            ),
            "kube-controller-manager",
        )

    # --- talking to the server as admin --------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        """An httpx client authenticated as ``admin`` (verifies the serving certificate)."""
        if self._client is None:
            self._client = self.client(ADMIN)
        return self._client

    def client(self, user: str = ADMIN, token: str | None = None) -> httpx.Client:
        """A new httpx client for ``user`` (or a raw bearer ``token``)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.tokens[user]}"},
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            timeout=30.0,
        )

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One admin request; raise with the server's message on an error status."""
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise KubeError(r.status_code, method, path, r.text)
        return r

    def allowed(self, user: str, verb: str, resource: str, namespace: str, group: str = "") -> bool:
        """Whether the API server's authorizer lets ``user`` do ``verb`` on ``resource`` now
        (a SubjectAccessReview): its RBAC cache takes a moment to see a new binding."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                },
            },
        }
        r = self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
        return bool(r.json().get("status", {}).get("allowed"))

    def resource(self, api_version: str, kind: str) -> ApiResource:
        """The resource for ``apiVersion``/``kind`` from discovery (CRDs included)."""
        key = (api_version, kind)
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for _ in range(50):  # a new CRD appears in discovery within a second or two
                r = self.http.get(base)
                if r.status_code == 200:
                    for res in r.json()["resources"]:
                        if "/" not in res["name"]:
                            self._resources[(api_version, res["kind"])] = ApiResource(
                                api_version, res["name"], res["kind"], res["namespaced"]
                            )
                if key in self._resources:
                    break
                time.sleep(0.1)
            else:
                raise KeyError(f"the server serves no {kind} in {api_version}")
        return self._resources[key]

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        path = self.resource(api_version, kind).path(namespace, name)
        r = self.http.get(path)
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise KubeError(r.status_code, "GET", path, r.text)
        return dict(r.json())

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[dict[str, Any]]:
        path = self.resource(api_version, kind).path(namespace)
        params = {"labelSelector": selector} if selector else {}
        return list(self.request("GET", path, params=params).json()["items"])

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get("apps/v1", "Deployment", namespace, name)
        assert obj is not None, f"deployment {namespace}/{name} does not exist"
        return obj

    def pods(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        return self.list("v1", "Pod", namespace, selector)

    def apply(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create ``obj``, or merge it into the existing object (as ``kubectl apply`` would
        for the fields given). ``namespace`` overrides ``metadata.namespace``."""
        obj = json.loads(json.dumps(obj))
        res = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        ns = meta.get("namespace") if res.namespaced else None
        path = res.path(ns, meta["name"])
        r = (
            self.http.post(res.path(ns), json=obj)
            if self.http.get(path).status_code == 404
            else None
        )
        # A controller may create the object between the GET and the POST (the endpoints
        # controller makes a Service's Endpoints): merge into it then.
        if r is None or r.status_code == 409:
            obj.pop("status", None)
            r = self.http.patch(
                path,
                content=json.dumps(obj),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        if r.status_code >= 400:
            raise KubeError(r.status_code, "apply", f"{res.kind} {ns}/{meta['name']}", r.text)
        return dict(r.json())

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, body: Any
    ) -> dict[str, Any]:
        """A JSON merge patch of an existing object."""
        path = self.resource(api_version, kind).path(namespace, name)
        return dict(
            self.request(
                "PATCH",
                path,
                content=json.dumps(body),
                headers={"Content-Type": "application/merge-patch+json"},
            ).json()
        )

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        """Set a Deployment's replicas (as ``kubectl scale`` would)."""
        self.patch("apps/v1", "Deployment", namespace, deployment, {"spec": {"replicas": replicas}})

    def apply_yaml(self, text: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Apply every document of ``text``. With ``namespace``, namespaced objects go there
        and ``Namespace`` documents are skipped (the caller made the namespace)."""
        out = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            if namespace and doc["kind"] == "Namespace":
                continue
            out.append(self.apply(doc, namespace))
        return out

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        path = self.resource(api_version, kind).path(namespace, name)
        r = self.http.delete(path)
        if r.status_code not in (200, 202, 404):
            raise KubeError(r.status_code, "DELETE", path, r.text)

    def namespace(self, prefix: str = "t", labels: Mapping[str, str] | None = None) -> str:
        """Create a fresh namespace ``<prefix>-<n>`` and wait until pods can be made in it
        (its ``default`` ServiceAccount and token Secret exist); returns its name."""
        name = f"{re.sub(r'[^a-z0-9-]', '-', prefix.lower())[:40].strip('-')}-{next(self._ns_seq)}"
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )
        self.service_account_token(name, "default")
        return name

    def service_account_token(self, namespace: str, name: str, timeout: float = 30.0) -> str:
        """The token the controller-manager's token controller made for a ServiceAccount."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sa = self.get("v1", "ServiceAccount", namespace, name)
            for ref in (sa or {}).get("secrets") or []:
                secret = self.get("v1", "Secret", namespace, ref["name"])
                token = ((secret or {}).get("data") or {}).get("token")
                if token:
                    return base64.b64decode(token).decode()
            time.sleep(0.1)
        raise TimeoutError(f"no token Secret for ServiceAccount {namespace}/{name}")

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        user: str = ADMIN,
        token: str | None = None,
        context: str = "test",
        namespace: str = "default",
        insecure: bool = False,
        user_name: str | None = None,
    ) -> Path:
        """A kubeconfig for ``user`` (a static-token user) or a raw bearer ``token`` (a
        ServiceAccount's). The server's certificate is verified against its own CA, or
        with ``insecure`` the context skips verification."""
        cluster: dict[str, Any] = {"server": self.url}
        if insecure:
            cluster["insecure-skip-tls-verify"] = True
        else:
            cluster["certificate-authority"] = str(self.ca_file)
        uname = user_name or user
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": uname, "user": {"token": token or self.tokens[user]}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": uname, "namespace": namespace},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yaml.safe_dump(config, sort_keys=False))
        p.chmod(0o600)
        return p

    # --- the audit log -----------------------------------------------------------------

    def audit_mark(self) -> int:
        """A position in the audit log: ``audit(since=mark)`` reads what came after."""
        try:
            return self.audit_log.stat().st_size
        except FileNotFoundError:
            return 0

    def audit(self, user: str | None = "tester", since: int = 0) -> list[Request]:
        """The requests ``user`` (every user when None) made after ``since``, in the order
        the server took them."""
        out = []
        with self.audit_log.open("rb") as f:
            f.seek(since)
            for line in f:
                event = json.loads(line)
                if user is not None and event.get("user", {}).get("username") != user:
                    continue
                ref = event.get("objectRef") or {}
                resource = str(ref.get("resource") or "")
                if ref.get("subresource"):
                    resource += "/" + str(ref["subresource"])
                out.append(
                    Request(
                        verb=str(event["verb"]),
                        uri=str(event["requestURI"]),
                        code=int(event.get("responseStatus", {}).get("code") or 0),
                        stage=str(event.get("stage", "")),
                        group=str(ref.get("apiGroup") or ""),
                        resource=resource,
                        namespace=str(ref.get("namespace") or ""),
                    )
                )
        return out

    # --- etcd --------------------------------------------------------------------------

    def _etcdctl(self, *args: str) -> str:
        return subprocess.run(
            [self.bins["etcdctl"], f"--endpoints={self.etcd_url}", *args],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "ETCDCTL_API": "3"},
        ).stdout

    def etcd_revision(self) -> int:
        out = self._etcdctl("endpoint", "status", "-w", "json")
        return int(json.loads(out)[0]["Status"]["header"]["revision"])

    def compact(self) -> int:
        """Compact etcd past every resourceVersion handed out so far: a watch resumed from
        any of them answers 410 Gone (``Expired``). Two writes outside the Kubernetes
        keyspace come first, because a watch from version r needs r + 1, which a
        compaction at exactly the current revision would keep. Returns that revision."""
        self._etcdctl("put", "/b2tui-tests/compact", "1")
        self._etcdctl("put", "/b2tui-tests/compact", "2")
        rev = self.etcd_revision()
        self._etcdctl("compact", str(rev), "--physical")
        return rev

    # --- the fake kubelet's knobs ------------------------------------------------------

    def crash(
        self, namespace: str, selector: Mapping[str, str] | None = None, image: str | None = None
    ) -> None:
        """Make matching pods (existing and future) crash-loop."""
        assert self.kubelet is not None
        self.kubelet.add_rule(CrashRule(namespace, dict(selector or {}), image))

    def pod_ip(self, namespace: str, selector: Mapping[str, str], ip: str) -> None:
        """Give matching pods (existing and future) ``ip`` as their podIP, as a pod network
        would (see ``tests/support/netns.py`` for a server listening there). The API
        server's service proxy reaches an Endpoints address only when it names a pod with
        that IP."""
        assert self.kubelet is not None
        self.kubelet.add_ip(IpRule(namespace, dict(selector), ip))

    def heal(self, namespace: str | None = None) -> None:
        """Stop making pods of ``namespace`` (all when None) crash-loop."""
        assert self.kubelet is not None
        self.kubelet.remove_rules(namespace)


@dataclass(frozen=True)
class Request:
    """One request as the apiserver's audit log records it."""

    verb: str
    """Kubernetes verb: ``get``, ``list``, ``watch``, ``create``, ``patch``, ``delete``…"""
    uri: str
    """Path and query as sent, e.g. ``/apis/apps/v1/namespaces/n/deployments/web?…``."""
    code: int
    """HTTP status of the response."""
    stage: str
    """``ResponseComplete``, or ``ResponseStarted`` for a watch stream."""
    group: str = ""
    """API group of the object (``""`` for the core group, ``apps``…)."""
    resource: str = ""
    """Resource, with ``/subresource`` when there is one (``deployments/scale``)."""
    namespace: str = ""


class KubeError(RuntimeError):
    """An error status from the server, with its message."""

    def __init__(self, status: int, method: str, what: str, body: str) -> None:
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body
        super().__init__(f"{method} {what}: {status} {message}")
        self.status = status


# --- the fake kubelet --------------------------------------------------------------------


@dataclass(frozen=True)
class CrashRule:
    """Pods in ``namespace`` whose labels include ``selector`` and, if given, whose image
    contains ``image`` crash-loop."""

    namespace: str
    selector: dict[str, str] = field(default_factory=dict)
    image: str | None = None

    def matches(self, pod: Mapping[str, Any]) -> bool:
        meta = pod["metadata"]
        if meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in self.selector.items()):
            return False
        images = [c.get("image", "") for c in pod["spec"].get("containers", [])]
        return self.image is None or any(self.image in i for i in images)


@dataclass(frozen=True)
class IpRule:
    """Pods in ``namespace`` whose labels include ``selector`` get podIP ``ip``."""

    namespace: str
    selector: dict[str, str]
    ip: str

    def matches(self, pod: Mapping[str, Any]) -> bool:
        return CrashRule(self.namespace, self.selector).matches(pod)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubelet:
    """Writes pod status as a kubelet would, from a watch on every pod.

    * a new pod becomes ``Running`` with every condition True and ready containers
      (``state.running``), unless a ``CrashRule`` matches: then ``Running`` with
      ``Ready``/``ContainersReady`` False and each container waiting in
      ``CrashLoopBackOff`` with a restartCount;
    * a pod with a ``deletionTimestamp`` is deleted with grace period 0 (nobody else
      would finish its termination).

    Pods stay unbound (no Node object): a Node without heartbeats would be marked
    NotReady after ~40 s and its pods would lose Ready.
    """

    def __init__(self, kube: RealKube) -> None:
        self.kube = kube
        self._rules: list[CrashRule] = []
        self._ips: list[IpRule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)
        self._http: httpx.Client | None = None
        self.errors: list[str] = []
        """Unexpected errors the loop met (a test may assert it is empty)."""

    def start(self) -> None:
        self._http = self.kube.client(ADMIN)
        self._thread.start()

    def stop(self, join: bool = True) -> None:
        self._stop.set()
        if join and self._thread.is_alive():
            self._thread.join(timeout=10)
        if join and self._http is not None:
            with contextlib.suppress(Exception):
                self._http.close()

    def add_rule(self, rule: CrashRule) -> None:
        with self._lock:
            self._rules.append(rule)
        self.resync(rule.namespace)

    def add_ip(self, rule: IpRule) -> None:
        with self._lock:
            self._ips.append(rule)
        self.resync(rule.namespace)

    def _pod_ip(self, pod: Mapping[str, Any]) -> str:
        with self._lock:
            return next((r.ip for r in reversed(self._ips) if r.matches(pod)), "127.0.0.1")

    def remove_rules(self, namespace: str | None) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if namespace and r.namespace != namespace]
            self._ips = [r for r in self._ips if namespace and r.namespace != namespace]
        self.resync(namespace)

    def resync(self, namespace: str | None = None) -> None:
        """Reconcile every pod now (after a rule changed), from the caller's thread."""
        with self.kube.client(ADMIN) as http:
            path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
            for pod in http.get(path).json().get("items", []):
                self._reconcile(http, pod)

    def _crashes(self, pod: Mapping[str, Any]) -> bool:
        with self._lock:
            return any(r.matches(pod) for r in self._rules)

    def _run(self) -> None:
        rv = ""
        while not self._stop.is_set():
            http = self._http
            assert http is not None
            try:
                if not rv:
                    body = http.get("/api/v1/pods").json()
                    for pod in body["items"]:
                        self._reconcile(http, pod)
                    rv = body["metadata"]["resourceVersion"]
                params = {
                    "watch": "true",
                    "resourceVersion": rv,
                    "timeoutSeconds": "30",
                    "allowWatchBookmarks": "true",
                }
                with http.stream("GET", "/api/v1/pods", params=params, timeout=None) as r:
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            rv = ""  # 410 Gone after a compaction: list again
                            break
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._reconcile(http, obj)
            except Exception as e:  # a stopped client, a server going away
                if self._stop.is_set():
                    return
                self.errors.append(f"{type(e).__name__}: {e}")
                rv = ""
                self._stop.wait(0.5)

    def _reconcile(self, http: httpx.Client, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        if meta.get("deletionTimestamp"):
            http.request("DELETE", path, json={"gracePeriodSeconds": 0})
            return
        want = self._status(pod)
        have = pod.get("status") or {}
        if _same_status(have, want):
            return
        r = http.patch(
            f"{path}/status",
            content=json.dumps({"status": want}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if r.status_code not in (200, 404, 409):
            self.errors.append(f"patch {path}/status: {r.status_code} {r.text[:200]}")

    def _status(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        crash = self._crashes(pod)
        have = pod.get("status") or {}
        now = _now()
        started = have.get("startTime") or now
        old = {c["name"]: c for c in have.get("containerStatuses") or []}
        containers = []
        for c in pod["spec"].get("containers", []):
            prev = old.get(c["name"], {})
            restarts = int(prev.get("restartCount", 0))
            if crash:
                was_crashing = "waiting" in (prev.get("state") or {})
                containers.append(
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": restarts if was_crashing else restarts + 3,
                        "state": {
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": f"back-off 40s restarting failed container={c['name']}",
                            }
                        },
                        "lastState": {
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "startedAt": started,
                                "finishedAt": now,
                            }
                        },
                    }
                )
            else:
                running = (prev.get("state") or {}).get("running")
                containers.append(
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": f"docker-pullable://{image_id(c['image'])}",
                        "ready": True,
                        "started": True,
                        "restartCount": restarts,
                        "state": {"running": running or {"startedAt": now}},
                    }
                )
        ready = "False" if crash else "True"
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        conds = {c["type"]: c for c in have.get("conditions") or []}

        def cond(kind: str, status: str) -> dict[str, Any]:
            prev = conds.get(kind, {})
            since = prev.get("lastTransitionTime") if prev.get("status") == status else None
            out: dict[str, Any] = {
                "type": kind,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": since or now,
            }
            if status == "False":
                out["reason"] = "ContainersNotReady"
                out["message"] = f"containers with unready status: [{', '.join(names)}]"
            return out

        return {
            "phase": "Running",
            "conditions": [
                cond("Initialized", "True"),
                cond("Ready", ready),
                cond("ContainersReady", ready),
                cond("PodScheduled", "True"),
            ],
            "hostIP": "127.0.0.1",
            "podIP": self._pod_ip(pod),
            "podIPs": [{"ip": self._pod_ip(pod)}],
            "startTime": started,
            "containerStatuses": containers,
        }


def image_id(image: str) -> str:
    """What a kubelet reports as a running container's ``imageID``: the repository at the
    digest it pulled (the one pinned in ``image``, else one derived from the reference)."""
    name, _, pinned = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    repo = name[:colon] if colon > slash else name
    digest = pinned or "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    return f"{repo}@{digest}"


def _same_status(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """Whether the pod already shows what ``want`` says (timestamps aside)."""
    if have.get("phase") != want["phase"] or have.get("podIP") != want["podIP"]:
        return False
    hc = {c["type"]: c.get("status") for c in have.get("conditions") or []}
    wc = {c["type"]: c["status"] for c in want["conditions"]}
    if hc != wc:
        return False
    hs = [
        (c.get("name"), c.get("image"), c.get("ready"), sorted(c.get("state") or {}))
        for c in have.get("containerStatuses") or []
    ]
    ws = [
        (c["name"], c["image"], c["ready"], sorted(c["state"])) for c in want["containerStatuses"]
    ]
    return hs == ws
