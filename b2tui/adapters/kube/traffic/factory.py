"""Picks the traffic router of an environment, once."""

from __future__ import annotations

from b2tui.adapters.kube.traffic.base import TrafficRouter
from b2tui.adapters.kube.traffic.gateway import GatewayRouter
from b2tui.adapters.kube.traffic.nginx import NginxRouter
from b2tui.adapters.kube.traffic.replicas import ReplicaRouter
from b2tui.domain.phases import Traffic
from b2tui.ports import Target


def router_for(target: Target) -> TrafficRouter:
    """The router of ``target.traffic`` (replicas when the provider's object is unnamed)."""
    if target.traffic is Traffic.NGINX and target.ingress:
        return NginxRouter(target, target.ingress)
    if target.traffic is Traffic.GATEWAY and target.route:
        return GatewayRouter(target, target.route)
    return ReplicaRouter(target)
