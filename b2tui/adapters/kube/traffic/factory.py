"""Picks the traffic router of an environment, once, from the routers registered here.

A router is registered under its provider's name (:data:`b2tui.domain.traffic.PROVIDERS`
declares the object each provider needs); :func:`router_for` hands it that object's name.
"""

from __future__ import annotations

from collections.abc import Callable

from b2tui.adapters.kube.traffic.base import TrafficRouter
from b2tui.adapters.kube.traffic.gateway import GatewayRouter
from b2tui.adapters.kube.traffic.nginx import NginxRouter
from b2tui.adapters.kube.traffic.replicas import ReplicaRouter
from b2tui.domain.phases import Traffic
from b2tui.domain.traffic import PROVIDERS
from b2tui.ports import Target

RouterMaker = Callable[[Target, str], TrafficRouter]
"""Builds a router from the target and the name of the object its provider needs."""

ROUTERS: dict[str, RouterMaker] = {}
"""The router of each provider, by provider name; replicas is the fallback."""


def register_router(traffic: str, make: RouterMaker) -> None:
    """Route the environments whose ``traffic`` is ``traffic`` through ``make``'s router."""
    ROUTERS[traffic] = make


register_router(Traffic.NGINX, NginxRouter)
register_router(Traffic.GATEWAY, GatewayRouter)


def router_for(target: Target) -> TrafficRouter:
    """The router of ``target.traffic`` (replicas when the provider's object is unnamed)."""
    provider = PROVIDERS.get(target.traffic)
    make = ROUTERS.get(target.traffic)
    if provider is None or make is None or provider.problem(target):
        return ReplicaRouter(target)
    return make(target, provider.object_of(target) or "")
