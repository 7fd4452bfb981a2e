"""The kube store's name for this process: what a SelfSubjectReview answers where the API
server serves it (1.28+; the API test server plays one, from the API reference), else the
client's own account marked unverified (as on the real 1.20 server)."""

from __future__ import annotations

import socket
from pathlib import Path

from b2tui.adapters.kube.client import connect
from b2tui.adapters.kube_store import KubeStore, kube_person
from b2tui.domain.people import Roles
from tests.kubeapi import KubeApiServer

HOST = socket.gethostname()


def test_the_server_names_the_user_and_groups(tmp_path: Path) -> None:
    with KubeApiServer(token="t0ken") as kube:
        kube.self_subject = {
            "username": "dana@example.org",
            "uid": "42",
            "groups": ["leads", "system:authenticated"],
            "extra": {},
        }
        cfg = kube.write_kubeconfig(tmp_path / "kc", user="whatever-the-client-says")
        store = KubeStore(connect(str(cfg), None), "default")
        me = kube_person(store)
        assert (me.name, me.display, me.verified) == (
            "dana@example.org",
            f"dana@example.org@{HOST}",
            True,
        )
        assert Roles({"tech-lead": ("kube-group:leads",)}, configured=True).holds(me, "tech-lead")
        posted = [p for m, p in kube.requests if m == "POST"]
        assert posted == ["/apis/authentication.k8s.io/v1/selfsubjectreviews"]


def test_without_selfsubjectreview_the_kubeconfig_name_is_unverified(tmp_path: Path) -> None:
    with KubeApiServer() as kube:
        cfg = kube.write_kubeconfig(tmp_path / "kc", user="mallory")
        me = kube_person(KubeStore(connect(str(cfg), None), "default"))
        assert (me.name, me.display, me.verified) == (
            "mallory",
            f"mallory@{HOST} (unverified)",
            False,
        )
        assert not Roles({"lead": ("mallory",)}, configured=True).holds(me, "lead")
