"""``b2tui.toml`` → typed settings.

Every error names the file, the line and the key, and says how to fix it; the CLI
prints each as ``file:line: message`` and exits 2.

- :mod:`~b2tui.config.schema`: the dataclasses (one per table) and :class:`Secret`;
- :mod:`~b2tui.config.convert`: validation of single values, PromQL checks, key tables;
- :mod:`~b2tui.config.loading`: parsing a file with line numbers, secret checks;
- :mod:`~b2tui.config.sandbox`: the built-in settings of ``b2tui demo``.
"""

from b2tui.config.convert import PLACEHOLDERS, promql_problem
from b2tui.config.loading import find_config, load_settings, parse_settings, secret_problems
from b2tui.config.sandbox import SANDBOX_RULES, sandbox_settings
from b2tui.config.schema import (
    CommandSettings,
    ConfigError,
    DockerSettings,
    EnvironmentSettings,
    GateSettings,
    HttpCheck,
    MonitoringCheck,
    MonitoringSettings,
    NotifySettings,
    PrometheusSettings,
    QuerySettings,
    ReadinessSettings,
    Secret,
    ServiceSettings,
    Settings,
    SmokeSettings,
    StoreSettings,
    TerminalSettings,
)

__all__ = [
    "PLACEHOLDERS",
    "SANDBOX_RULES",
    "CommandSettings",
    "ConfigError",
    "DockerSettings",
    "EnvironmentSettings",
    "GateSettings",
    "HttpCheck",
    "MonitoringCheck",
    "MonitoringSettings",
    "NotifySettings",
    "PrometheusSettings",
    "QuerySettings",
    "ReadinessSettings",
    "Secret",
    "ServiceSettings",
    "Settings",
    "SmokeSettings",
    "StoreSettings",
    "TerminalSettings",
    "find_config",
    "load_settings",
    "parse_settings",
    "promql_problem",
    "sandbox_settings",
    "secret_problems",
]
