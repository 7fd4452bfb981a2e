"""Operator intents from other hosts: an inbox ConfigMap the driver watches.

``ConfigMap b2tui-intents-<service>-<env>`` holds one key per pending intent (JSON: run,
action, argument, user, host, time). An attached control room adds its key with a merge
patch under the resourceVersion it read; the driver follows the inbox with a watch,
*claims* each intent for its run by deleting the key (again under the resourceVersion —
of two claimers one wins), then applies it. Claim before apply: a driver killed in
between loses that intent (the operator sees nothing happen and presses again) but never
applies one twice.

With ``[roles]``, sign-offs do not go through that inbox: each role has its own,
``ConfigMap b2tui-sign-<service>-<env>-<role>``, and RBAC (``b2tui rbac``, one Role per
role with ``resourceNames`` on its inbox, bound to the role's Kubernetes groups) lets only
that role's people patch it; each user the role names has an inbox of their own,
``…-<role>.<user>``, bound to that user alone. The driver knows the role (and the user)
by the inbox's *name* and accepts from it only sign-offs of items of that role: the API
server, not the sender, decides who may sign. In a user's own inbox the name is the API
server's word too; in a role's group inbox it is the sender's client's claim (the group
membership is what RBAC vouches for).

Who may act is RBAC on this one object: ``patch`` on ``configmaps`` with
``resourceNames: [b2tui-intents-<service>-<env>]`` (deploy/rbac.yaml). The attaching
process asks the API server with a SelfSubjectAccessReview; without that right it opens
a watcher with no dangerous keys.

The name in the audit log is the Kubernetes user of the attaching client: for a
ServiceAccount token the ``sub`` claim of the token (``system:serviceaccount:NS:NAME``,
exactly the name the API server authenticates), otherwise the user name of the
kubeconfig entry in use. Kubernetes 1.20 has no SelfSubjectReview to ask the server
(:func:`kube_person`, the driver's own name, asks one where the server has it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from b2tui.adapters.kube.client import Conn
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube_store.objects import (
    KIND,
    MANAGED,
    SIGN_INBOX,
    dumps,
    role_users,
    sign_inbox_name,
    slug,
)
from b2tui.adapters.kube_store.store import KubeStore
from b2tui.adapters.kube_store.watch import ConfigMapWatch
from b2tui.domain.people import Person
from b2tui.ports import Intent, SourceError


def kube_user(conn: Conn) -> str:
    """The Kubernetes user name of this connection (see the module docstring)."""
    auth = conn.api.configuration.api_key.get(
        "authorization"
    ) or conn.api.configuration.api_key.get("BearerToken", "")
    token = str(auth).removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) == 3:
        with contextlib.suppress(ValueError, TypeError):
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            sub = payload.get("sub")
            if isinstance(sub, str) and sub:
                return sub
    return conn.user


def kube_person(store: KubeStore) -> Person:
    """Who this process is to the cluster, as the API server says: a ``SelfSubjectReview``
    (``authentication.k8s.io/v1``, or ``v1beta1`` on 1.27) answers the user name and groups
    it authenticated. A server without it (before 1.27, as 1.20) leaves the client's own
    account: a ServiceAccount token's subject (the name the server authenticates for that
    token), else the kubeconfig's user name — a label the client chooses, marked
    ``(unverified)``: it holds no ``[roles]`` role."""
    host = socket.gethostname()
    for version in ("v1", "v1beta1"):
        try:
            got = store.api.request(
                Op("create", "selfsubjectreviews"),
                "POST",
                f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                body={
                    "apiVersion": f"authentication.k8s.io/{version}",
                    "kind": "SelfSubjectReview",
                },
            )
        except KubeApiError as e:
            if e.status in (404, 405):
                continue  # not served by this version of the API server
            break
        info = (got.get("status") or {}).get("userInfo") or {}
        name = info.get("username")
        if isinstance(name, str) and name:
            groups = frozenset(g for g in info.get("groups") or [] if isinstance(g, str))
            return Person(name=name, display=f"{name}@{host}", kube_groups=groups)
    name = kube_user(store.conn)
    verified = name.startswith("system:serviceaccount:")
    display = f"{name}@{host}" + ("" if verified else " (unverified)")
    return Person(name=name, display=display, verified=verified)


class KubeIntents:
    """The intent inbox of one service and environment.

    Args:
        store: the kube store (connection and namespace).
        service: service name.
        environment: environment name.
        roles: the ``[roles]`` table (role → members) when configured: sign-offs then go
            through each role's own inbox; None: through the general one.
        item_roles: checklist item → its role (to address a sign-off's inbox).
    """

    def __init__(
        self,
        store: KubeStore,
        service: str,
        environment: str,
        *,
        roles: Mapping[str, tuple[str, ...]] | None = None,
        item_roles: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.name = f"b2tui-intents-{slug(service, 25)}-{slug(environment, 25)}"
        self.user = kube_user(store.conn)
        self.roles = dict(roles) if roles is not None else None
        self.item_roles = dict(item_roles or {})
        self.sign_inboxes: dict[str, tuple[str, str | None]] = {}
        """Inbox name → (role, its one user or None): the driver knows both by the name."""
        for role, members in (roles or {}).items():
            self.sign_inboxes[sign_inbox_name(service, environment, role)] = (role, None)
            for u in role_users(members):
                self.sign_inboxes[sign_inbox_name(service, environment, role, u)] = (role, u)
        self._may_sign: dict[str, str | None] = {}
        """Role → None (``_inbox`` says where to write) or why this user may not sign."""
        self._inbox: dict[str, str] = {}

    def ensure(self) -> None:
        """Create the inboxes that are missing (the driver does, at start)."""
        self._ensure(self.name, "intents")
        for name in self.sign_inboxes:
            self._ensure(name, SIGN_INBOX)

    def _ensure(self, name: str, kind: str) -> None:
        if self.store.api.get_configmap(name) is not None:
            return
        with contextlib.suppress(KubeApiError):  # 409: another process made it
            self.store.api.create_configmap(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {**MANAGED, KIND: kind}},
                    "data": {},
                }
            )

    def inbox_of(self, item: str) -> str | None:
        """Where a sign-off of ``item`` goes: this user's own inbox in the item's role when
        RBAC lets them write it, else the role's group inbox; None without ``[roles]`` or
        when they may write neither."""
        if self.roles is None or self.why_not_sign(item) is not None:
            return None
        return self._inbox.get(self.item_roles.get(item, ""))

    def prefetch(self) -> None:
        """Ask the API server now about every role inbox (a blocking call each), so that
        :meth:`why_not_sign` later answers from memory (from a key handler)."""
        if self.roles is None:
            return
        for item in self.item_roles:
            self.why_not_sign(item)

    def why_not_sign(self, item: str) -> str | None:
        """None when this user may send a sign-off of ``item``: without ``[roles]`` as any
        intent; with it, when RBAC lets them patch the inbox of the item's role."""
        if self.roles is None:
            return self.why_not()
        role = self.item_roles.get(item)
        if role is None:
            return f"no checklist item {item!r} in the configuration"
        if role not in self.roles:
            return f"role {role!r} of {item} is not in [roles]: nobody may sign it"
        if role not in self._may_sign:
            # The users' own inboxes first (the API server tells whose is ours, whatever
            # the kubeconfig calls us; ours by name first), then the role's group inbox.
            mine = sorted(
                (n for n, (r, u) in self.sign_inboxes.items() if r == role and u is not None),
                key=lambda n: self.sign_inboxes[n][1] != self.user,
            )
            group = [n for n, (r, u) in self.sign_inboxes.items() if r == role and u is None]
            who = ", ".join(self.roles.get(role, ())) or "nobody"
            refusal = (
                f"role {role} may sign: {who}; {self.user} may not: RBAC does not let them"
                f" patch configmap {group[0]} in namespace {self.store.namespace} (b2tui rbac)"
            )
            self._may_sign[role] = refusal
            for name in (*mine, *group):
                answer = self._access(name, refusal)
                if answer is None:
                    self._inbox[role] = name
                    self._may_sign[role] = None
                    break
                if answer.startswith("cannot tell"):
                    self._may_sign[role] = answer
        return self._may_sign[role]

    def why_not(self) -> str | None:
        """None when this user may send intents, else one line saying why not."""
        return self._access(
            self.name,
            f"{self.user} may not patch configmap {self.name} in namespace"
            f" {self.store.namespace}: watching only (grant it as in deploy/rbac.yaml)",
        )

    def _access(self, name: str, refusal: str) -> str | None:
        """Ask the API server whether this user may patch ConfigMap ``name``."""
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": self.store.namespace,
                    "verb": "patch",
                    "resource": "configmaps",
                    "name": name,
                }
            },
        }
        try:
            got = self.store.api.request(
                Op("create", "selfsubjectaccessreviews"),
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body=body,
            )
        except KubeApiError as e:
            return f"cannot tell whether {self.user} may act: {e}"
        if (got.get("status") or {}).get("allowed"):
            return None
        return refusal

    def submit(self, intent: Intent) -> None:
        """Add ``intent`` to the inbox. Raises :class:`SourceError` with one line."""
        rec = {
            "id": intent.id or uuid.uuid4().hex[:12],
            "run_id": intent.run_id,
            "action": intent.action,
            "arg": intent.arg,
            "user": intent.user,
            "host": f"{socket.gethostname()} pid {os.getpid()}",
            "at": datetime.now(UTC).isoformat(),
        }
        key = f"i{time.time_ns()}-{rec['id']}"
        name = self.name
        if intent.action == "sign_off" and self.roles is not None:
            found = self.inbox_of(intent.arg)
            if found is None:
                raise SourceError(self.why_not_sign(intent.arg) or "no inbox")
            name = found
        # One request, no read first: a merge patch that adds a key no other write names
        # cannot clobber anything (the driver's claims delete other keys under their
        # resourceVersion), so this one write needs no precondition of its own.
        try:
            self.store.api.patch_configmap(name, {"data": {key: dumps(rec)}})
        except KubeApiError as e:
            if e.status == 404:
                raise SourceError(
                    f"no intent inbox {name} in namespace {self.store.namespace}:"
                    ' is a driver running with [store] backend = "kube"?'
                ) from e
            if e.status == 403 and name != self.name:
                raise SourceError(
                    f"forbidden: the API server refused {self.user} a sign-off in"
                    f" {name} (only role {self.sign_inboxes[name][0]}'s people may patch it)"
                ) from e
            raise

    def serve(self, run_id: str, on_intent: Callable[[Intent], None]) -> Callable[[], None]:
        """Follow the inboxes; claim and hand over every intent for ``run_id`` (from a
        thread): from a role's sign-off inbox only sign-offs, marked with that role.
        Returns the function that stops it."""
        self.ensure()
        stops = [self._serve(self.name, "", None, run_id, on_intent)]
        for name, (role, user) in self.sign_inboxes.items():
            stops.append(self._serve(name, role, user, run_id, on_intent))

        def stop() -> None:
            for s in stops:
                s()

        return stop

    def _serve(
        self,
        name: str,
        role: str,
        user: str | None,
        run_id: str,
        on_intent: Callable[[Intent], None],
    ) -> Callable[[], None]:
        def seen(obj: dict[str, Any]) -> None:
            for key, text in sorted((obj.get("data") or {}).items()):
                try:
                    rec = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or rec.get("run_id") != run_id:
                    continue
                if self._claim(name, obj, key):
                    on_intent(
                        Intent(
                            run_id=run_id,
                            # A role's inbox carries sign-offs alone, whatever it says.
                            action="sign_off" if role else str(rec.get("action", "")),
                            # A user's own inbox names its writer; any other, the sender.
                            user=user if user is not None else str(rec.get("user", ""))[:200],
                            arg=str(rec.get("arg", "")),
                            id=str(rec.get("id", "")),
                            role=role,
                            named=user is not None,
                        )
                    )
                    obj = self.store.api.get_configmap(name) or obj

        w = ConfigMapWatch(self.store, "", seen, field_selector=f"metadata.name={name}")
        w.start()
        return w.stop

    def _claim(self, name: str, obj: dict[str, Any], key: str) -> bool:
        rv = obj["metadata"]["resourceVersion"]
        for _ in range(10):
            try:
                self.store.api.patch_configmap(
                    name, {"metadata": {"resourceVersion": rv}, "data": {key: None}}
                )
                return True
            except KubeApiError as e:
                if e.status != 409:
                    return False
            cur = self.store.api.get_configmap(name)
            if cur is None or key not in (cur.get("data") or {}):
                return False  # claimed by someone else
            rv = cur["metadata"]["resourceVersion"]
        return False
