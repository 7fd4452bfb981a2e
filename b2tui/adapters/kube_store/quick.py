"""One LIST of ConfigMaps without the kubernetes client, for ``b2tui status --line``.

tmux runs the status line every few seconds; importing the kubernetes client and reading
a kubeconfig through it costs ~0.5 s of CPU per call. For the kubeconfigs most people
have — a server with its CA (file or data) or ``insecure-skip-tls-verify``, and a bearer
token (inline or ``tokenFile``), client certificate files, or basic auth — and for the
in-cluster service account, :func:`list_configmaps` makes the one request with the
standard library. Anything else (exec plugins, auth providers, proxies, inline client
keys, several kubeconfig files merged) answers None, and the caller takes the client's
path: same request, same answer.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple

IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class QuickListError(Exception):
    """The API server refused or could not be reached: one line, no credential."""


class Endpoint(NamedTuple):
    """Where and how to send the request, read from a kubeconfig (a NamedTuple: the
    dataclasses module would cost this path ~10 ms of import)."""

    server: str
    context: ssl.SSLContext | None
    headers: dict[str, str]
    user: str


def endpoint(kubeconfig: str, context: str | None) -> Endpoint | None:
    """The server, TLS context and credentials of ``context`` (None: the current one), or
    None when only the kubernetes client can use that kubeconfig."""
    paths = [p for p in kubeconfig.split(os.pathsep) if p]
    if len(paths) != 1:
        return None
    path = Path(paths[0]).expanduser()
    if not path.exists():
        return _in_cluster() if os.environ.get("KUBERNETES_SERVICE_HOST") else None
    import yaml

    try:
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict):
        return None
    name = context or doc.get("current-context")
    ctx = _named(doc, "contexts", name, "context")
    if ctx is None:
        return None
    cluster = _named(doc, "clusters", ctx.get("cluster"), "cluster")
    user = _named(doc, "users", ctx.get("user"), "user")
    if cluster is None or user is None or not cluster.get("server"):
        return None
    if set(cluster) - {
        "server",
        "certificate-authority",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "extensions",
    }:
        return None  # proxy-url, disable-compression…: the client's business
    base = path.parent
    server = str(cluster["server"])
    tls = None
    if server.startswith("https:"):
        tls = _tls(cluster, user, base)
        if tls is None:
            return None
    headers = _credentials(user, base)
    if headers is None:
        return None
    return Endpoint(server, tls, headers, str(ctx.get("user") or "unknown"))


def _named(doc: dict[str, Any], section: str, name: Any, key: str) -> dict[str, Any] | None:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key)
            return value if isinstance(value, dict) else {}
    return None


def _path(value: Any, base: Path) -> str:
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else base / p)


def _tls(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> ssl.SSLContext | None:
    if cluster.get("insecure-skip-tls-verify"):
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        pem = base64.b64decode(str(cluster["certificate-authority-data"])).decode()
        tls = ssl.create_default_context(cadata=pem)
    elif cluster.get("certificate-authority"):
        tls = ssl.create_default_context(cafile=_path(cluster["certificate-authority"], base))
    else:
        tls = ssl.create_default_context()
    if cluster.get("tls-server-name"):
        return None  # SNI other than the host: leave it to the client
    cert, key = user.get("client-certificate"), user.get("client-key")
    if cert and key:
        tls.load_cert_chain(_path(cert, base), _path(key, base))
    return tls


def _credentials(user: dict[str, Any], base: Path) -> dict[str, str] | None:
    known = {"token", "tokenFile", "client-certificate", "client-key", "username", "password"}
    if set(user) - known:
        return None  # exec, auth-provider, *-data client keys, impersonation…
    if user.get("token"):
        return {"Authorization": f"Bearer {user['token']}"}
    if user.get("tokenFile"):
        token = Path(_path(user["tokenFile"], base)).read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if user.get("username") and user.get("password"):
        raw = f"{user['username']}:{user['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return {}


def _in_cluster() -> Endpoint | None:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    token, ca = IN_CLUSTER / "token", IN_CLUSTER / "ca.crt"
    if not host or not token.exists() or not ca.exists():
        return None
    if ":" in host:
        host = f"[{host}]"
    return Endpoint(
        f"https://{host}:{port}",
        ssl.create_default_context(cafile=str(ca)),
        {"Authorization": f"Bearer {token.read_text().strip()}"},
        "serviceaccount",
    )


def list_configmaps(
    kubeconfig: str, context: str | None, namespace: str, selector: str, timeout: float = 10.0
) -> list[dict[str, Any]] | None:
    """The ConfigMaps ``selector`` selects in ``namespace``, in one GET; None when the
    kubeconfig needs the kubernetes client. Raises :class:`QuickListError`."""
    try:
        ep = endpoint(kubeconfig, context)
    except (OSError, ValueError, ssl.SSLError):
        return None  # a file the client will name in its own error
    if ep is None:
        return None
    url = urllib.parse.urlsplit(ep.server)
    path = (url.path.rstrip("/") or "") + (
        f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/configmaps?"
        + urllib.parse.urlencode({"labelSelector": selector})
    )
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(
            url.hostname or "", url.port or 443, context=ep.context, timeout=timeout
        )
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=timeout)
    what = f"list configmaps in {namespace} on {ep.server} as {ep.user}"
    try:
        conn.request("GET", path, headers={**ep.headers, "Accept": "application/json"})
        res = conn.getresponse()
        body = res.read()
    except (OSError, http.client.HTTPException) as e:
        raise QuickListError(f"{what}: {e.__class__.__name__}: {e}") from None
    finally:
        conn.close()
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if res.status != 200:
        said = doc.get("message") if isinstance(doc, dict) else None
        raise QuickListError(f"{what}: {res.status} {res.reason}" + (f": {said}" if said else ""))
    return list(doc.get("items") or []) if isinstance(doc, dict) else []
