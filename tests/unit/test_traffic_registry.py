"""Traffic providers as a registry: the declaration each provider makes (the object it
needs) is what configuration validation and the kube router factory read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.rollback import FirstWrite
from b2tui.adapters.kube.traffic import factory
from b2tui.adapters.kube.traffic.gateway import GatewayRouter
from b2tui.adapters.kube.traffic.nginx import NginxRouter
from b2tui.adapters.kube.traffic.replicas import ReplicaRouter
from b2tui.config import ConfigError, EnvironmentSettings, parse_settings
from b2tui.domain.canary import ReplicaSplit
from b2tui.domain.phases import Traffic
from b2tui.domain.traffic import PROVIDERS, Provider, register
from b2tui.ports import Target, TrafficSplit


@dataclass(frozen=True)
class ToyRouter:
    """A provider nobody ships: traffic by a (pretend) mesh object named ``mesh``."""

    target: Target
    mesh: str

    def check(self, api: Api) -> list[str]:
        return []

    def set_weight(self, api: Api, percent: int, split: ReplicaSplit) -> TrafficSplit:
        return TrafficSplit(percent, float(percent), f"mesh {self.mesh}: {percent}%")

    def verify(self, api: Api) -> TrafficSplit:
        return TrafficSplit(0, 0.0, f"mesh {self.mesh}")

    def reset(self, api: Api) -> bool:
        return False

    def first_reset(self, percent: int, split: ReplicaSplit) -> FirstWrite | None:
        return None


@pytest.fixture
def registries() -> Iterator[None]:
    """Whatever a test registers is gone afterwards."""
    providers, routers = dict(PROVIDERS), dict(factory.ROUTERS)
    yield
    PROVIDERS.clear()
    PROVIDERS.update(providers)
    factory.ROUTERS.clear()
    factory.ROUTERS.update(routers)


def target(**kw: object) -> Target:
    base: dict[str, object] = {
        "name": "production",
        "context": None,
        "namespace": "shop",
        "deployment": "web",
        "service": "web",
    }
    return Target(**(base | kw))  # type: ignore[arg-type]


def test_a_toy_router_is_added_through_the_registry_alone(registries: None) -> None:
    register(Provider("toy", "route", "<mesh route name>"))
    factory.register_router("toy", ToyRouter)

    router = factory.router_for(target(traffic="toy", route="web-mesh"))
    assert router == ToyRouter(target(traffic="toy", route="web-mesh"), "web-mesh")
    # Its object unnamed: the factory falls back to replicas, as for every provider, and
    # validation says what is missing from the declaration alone.
    assert isinstance(factory.router_for(target(traffic="toy")), ReplicaRouter)
    env = EnvironmentSettings(name="production")
    assert PROVIDERS["toy"].problem(env) == 'traffic = "toy" needs route = "<mesh route name>"'


def test_the_shipped_providers_get_the_object_they_declare() -> None:
    assert factory.router_for(target(traffic=Traffic.NGINX, ingress="web")) == NginxRouter(
        target(traffic=Traffic.NGINX, ingress="web"), "web"
    )
    assert factory.router_for(target(traffic=Traffic.GATEWAY, route="r")) == GatewayRouter(
        target(traffic=Traffic.GATEWAY, route="r"), "r"
    )
    assert isinstance(factory.router_for(target(traffic=Traffic.NGINX)), ReplicaRouter)
    assert isinstance(factory.router_for(target()), ReplicaRouter)
    assert set(PROVIDERS) == set(Traffic)


@pytest.mark.parametrize(
    ("traffic", "line"),
    [
        ("nginx", 'traffic = "nginx" needs ingress = "<stable ingress name>"'),
        ("gateway", 'traffic = "gateway" needs route = "<HTTPRoute name>"'),
    ],
)
def test_configuration_names_the_object_a_provider_needs(traffic: str, line: str) -> None:
    text = f'[environments.production]\nnamespace = "shop"\ntraffic = "{traffic}"\n'
    with pytest.raises(ConfigError) as e:
        parse_settings(text, "b2tui.toml")
    assert e.value.problems == [f"b2tui.toml:1: environments.production: {line}"]


def test_configuration_reads_a_changed_declaration(registries: None) -> None:
    """Validation repeats nothing: change what nginx needs, and the error follows."""
    register(Provider(Traffic.NGINX, "route", "<route for nginx>"))
    text = '[environments.production]\nnamespace = "shop"\ntraffic = "nginx"\ningress = "web"\n'
    with pytest.raises(ConfigError) as e:
        parse_settings(text, "b2tui.toml")
    assert e.value.problems == [
        'b2tui.toml:1: environments.production: traffic = "nginx" needs route = "<route for nginx>"'
    ]
