"""Traffic providers: how a canary's share is enforced, and the object each one needs.

Each provider is declared once, in :data:`PROVIDERS`: its name (the ``traffic`` value of an
environment) and the ``[environments.<name>]`` key naming the one cluster object its
router changes (``ingress``, ``route``), if any. Configuration validation reads the
declaration (the key must be set) and so does the kube adapter's router factory (which
object the router gets), so neither repeats what a provider needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from b2tui.domain.phases import Traffic


@dataclass(frozen=True)
class Provider:
    """One traffic provider and what it needs named in an environment's settings."""

    name: str
    """The ``traffic`` value that selects it."""
    needs: str | None = None
    """The environment key naming the object its router changes; None when it needs none."""
    hint: str = ""
    """What that key holds, for the error line (``<stable ingress name>``)."""
    headers: bool = False
    """Its router can send requests carrying a header to the canary (``canary_header``)."""

    def object_of(self, env: object) -> str | None:
        """The name of the object ``env`` (settings or a target) gives this provider."""
        return getattr(env, self.needs, None) if self.needs else None

    def problem(self, env: object) -> str | None:
        """What is missing from ``env`` for this provider, in one line; None when nothing."""
        if self.needs and not self.object_of(env):
            return f'traffic = "{self.name}" needs {self.needs} = "{self.hint}"'
        return None

    def header_problem(self, env: object) -> str | None:
        """Why ``env``'s ``canary_header`` cannot work with this provider; None when it can
        (or when no header is asked)."""
        if not getattr(env, "canary_header", None) or self.headers:
            return None
        able = " or ".join(f'"{p.name}"' for p in PROVIDERS.values() if p.headers)
        return (
            f'canary_header needs a router that routes by header, and traffic = "{self.name}"'
            f" cannot: use traffic = {able}, or drop canary_header and name a preview_service"
            " (the checks then reach the canary's pods through it)"
        )


PROVIDERS: dict[str, Provider] = {}
"""Every provider by name."""


def register(provider: Provider) -> Provider:
    """Declare ``provider`` (a new one, or one that replaces the provider of its name)."""
    PROVIDERS[provider.name] = provider
    return provider


register(Provider(Traffic.REPLICAS))
register(Provider(Traffic.NGINX, "ingress", "<stable ingress name>", headers=True))
register(Provider(Traffic.GATEWAY, "route", "<HTTPRoute name>", headers=True))
