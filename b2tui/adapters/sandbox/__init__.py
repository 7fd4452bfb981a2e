"""The embedded sandbox: a simulated cluster, metrics and tools with named fault scenarios.

``b2tui demo`` runs on it: every port of :mod:`b2tui.ports` is implemented in-process,
deterministic for a seed and driven by the run's clock, so a virtual clock plays a
whole deployment in milliseconds and a resumed run sees the same world.
"""

from b2tui.adapters.sandbox.build import Sandbox, build_sandbox
from b2tui.adapters.sandbox.scenarios import SCENARIOS, Scenario
from b2tui.adapters.sandbox.world import World

__all__ = ["SCENARIOS", "Sandbox", "Scenario", "World", "build_sandbox"]
