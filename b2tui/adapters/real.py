"""Composition of the real adapters for ``b2tui run`` / ``b2tui tui``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from b2tui.config import Settings
from b2tui.domain.people import responders
from b2tui.ports import Ports


def build_ports(settings: Settings, *, kubeconfig: str | None = None) -> Ports:
    """Kubernetes, Prometheus, Docker, shell, HTTP checks and webhooks for ``settings``."""
    from b2tui.adapters.docker import DockerImages
    from b2tui.adapters.http import HttpChecks, WebhookNotifier
    from b2tui.adapters.kube import KubeCluster
    from b2tui.adapters.prometheus import PrometheusMetrics
    from b2tui.adapters.shell import ShellCommands

    commands = ShellCommands()
    return Ports(
        cluster=KubeCluster(kubeconfig),
        metrics=PrometheusMetrics(settings.prometheus, settings.gates.poll),
        images=DockerImages(settings.docker),
        commands=commands,
        checks=HttpChecks(settings, commands),
        notifier=WebhookNotifier(
            settings.notify,
            settings.service.repo,
            paged=responders(settings.roles, settings.people, settings.notify.page_roles),
        ),
    )


async def git_head(repo: str) -> tuple[str, datetime | None]:
    """Short sha and commit time of HEAD in ``repo``; ``("0000000", None)`` outside git."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            repo,
            "log",
            "-1",
            "--format=%h %cI",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
    except OSError:
        return "0000000", None
    if proc.returncode != 0 or not out.strip():
        return "0000000", None
    sha, _, when = out.decode().strip().partition(" ")
    try:
        return sha[:7], datetime.fromisoformat(when).astimezone(UTC)
    except ValueError:
        return sha[:7], None
