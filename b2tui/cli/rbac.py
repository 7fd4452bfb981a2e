"""``b2tui rbac``: the Roles and RoleBindings that let only each ``[roles]`` role sign its
items through the cluster (kube store), printed as YAML for ``kubectl apply -f -``."""

from __future__ import annotations

import argparse

from b2tui.cli.loading import load
from b2tui.cli.parser import UsageError


def cmd_rbac(args: argparse.Namespace) -> int:
    """One Role per role: ``get`` and ``patch`` on that role's sign-off inbox alone
    (``resourceNames``), bound to its ``kube-group:NAME`` entries (Group) and plain names
    (User, the cluster's user name)."""
    # Imported here, not with the module: every command imports this one, and PyYAML
    # costs the control room's first frame ~6 ms of CPU it never uses.
    import yaml

    from b2tui.adapters.kube_store.objects import signoff_rbac

    if args.config is None:
        raise UsageError("rbac needs --config FILE (its [roles] and [store])")
    settings = load(args.config)
    target = settings.environment(args.env)
    if settings.store.backend != "kube":
        raise UsageError(
            f'{settings.path}: rbac is for [store] backend = "kube" (with the SQLite store the'
            " driver's Unix socket names each signer; nothing to grant in the cluster)"
        )
    if not settings.roles.configured:
        raise UsageError(
            f"no [roles] in {settings.path}: without roles anyone who may act signs;"
            " add [roles] (README, People) first"
        )
    namespace = settings.store.namespace or target.namespace
    docs = signoff_rbac(dict(settings.roles.members), settings.service.name, args.env, namespace)
    header = (
        f"# Sign-off inboxes of {settings.service.name} in {args.env} ({settings.path}):\n"
        "# only each role's Kubernetes groups and users may patch its inbox.\n"
        f"#   b2tui rbac --config {settings.path} --env {args.env} | kubectl apply -f -\n"
    )
    print(header + yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0
