"""How traffic reaches the canary: one router per provider, behind :class:`TrafficRouter`.

``replicas`` (the replica ratio behind one Service), ``nginx`` (ingress-nginx canary
weight) and ``gateway`` (Gateway API HTTPRoute weights), as Argo Rollouts keeps one
package per traffic provider. :func:`~b2tui.adapters.kube.traffic.factory.router_for`
picks the router once per environment; the routers never import each other (an
import-linter contract). A new provider is a new module here, registered in the factory;
ARCHITECTURE.md lists every file it touches.
"""
