"""The typed settings a ``b2tui.toml`` becomes: one frozen dataclass per table.

Defaults live here; :mod:`b2tui.config.loading` fills them from a file and
:mod:`b2tui.config.sandbox` builds the embedded sandbox's. :class:`Secret` holds a
reference (``env:``/``file:``) and never shows its value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from b2tui.domain.canary import DEFAULT_STEPS, CanaryStep
from b2tui.domain.checklist import ItemSpec
from b2tui.domain.people import Roles
from b2tui.domain.phases import Strategy, Traffic
from b2tui.masking import register_secret


class ConfigError(Exception):
    """One or more problems in a configuration file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Secret:
    """A secret reference: ``env:NAME``, ``file:PATH`` or (discouraged) a literal.

    ``repr`` and ``str`` never show the value; call :meth:`reveal` where it is used.
    """

    ref: str
    where: str = field(default="", compare=False)
    """``file:line: table.key`` it was configured at (for check-config's messages)."""

    def reveal(self) -> str:
        """The secret's value. Raises ValueError naming the reference when unavailable.

        The value is registered with :mod:`b2tui.masking` first, so whatever it reaches
        (a header a server echoes, an error, a log line) shows ``***`` instead.
        """
        value = self._read()
        register_secret(value)
        return value

    def _read(self) -> str:
        if self.ref.startswith("env:"):
            name = self.ref[4:]
            value = os.environ.get(name)
            if value is None:
                raise ValueError(f"environment variable {name} is not set")
            return value
        if self.ref.startswith("file:"):
            path = Path(self.ref[5:]).expanduser()
            try:
                return path.read_text().strip()
            except OSError as e:
                raise ValueError(f"cannot read secret file {path}: {e.strerror}") from None
        return self.ref

    @property
    def source(self) -> str:
        """Where the secret comes from, safe to display (``env:NAME``, ``file:PATH``)."""
        if self.ref.startswith(("env:", "file:")):
            return self.ref
        return "inline value"

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__


@dataclass(frozen=True)
class ServiceSettings:
    name: str = "b2connect"
    image: str = "registry.example.com/b2connect"
    """Repository; tags become ``<env>-<shortsha>``."""
    repo: str = "."
    """Git checkout the commands run in."""
    prebuilt: bool = False
    """CI builds and pushes the images: a run skips build and push and checks that the
    registry has ``<image>:<env>-<shortsha>`` (or ``run --image REF``) instead."""


@dataclass(frozen=True)
class CommandSettings:
    pull: str = "git pull origin main"
    test: str = "dotnet test B2Connect.slnx -v minimal"
    build: str = "dotnet build B2Connect.slnx"
    smoke: str = "npm run test:e2e -- --smoke"
    timeout: float = 1200.0
    """Seconds each command may run."""


@dataclass(frozen=True)
class DockerSettings:
    context: str = "."
    dockerfile: str = "Dockerfile"
    host: str | None = None
    """Docker daemon URL; None uses DOCKER_HOST or the default socket."""


@dataclass(frozen=True)
class QuerySettings:
    """An optional extra gate: a PromQL query and its maximum."""

    name: str
    query: str
    max: float
    unit: str = ""


@dataclass(frozen=True)
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    bearer_token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    # --- by name: b2tui writes the PromQL (see adapters.prometheus.gate_queries) ---
    requests: str = "http_requests_total"
    """Request counter (a Prometheus counter, usually ending in ``_total``)."""
    status_label: str = "status"
    """Label of ``requests`` holding the HTTP status code (``code`` in many libraries)."""
    error_status: str = "5.."
    """Regular expression (RE2) of the status values counted as errors."""
    latency: str = "http_request_duration_seconds"
    """Latency histogram in seconds (its base name; ``_bucket`` is appended)."""
    job: str | None = None
    """Scrape job of the service: the target check becomes ``up{job="…"}``."""
    scrape_interval: float = 15.0
    """How often Prometheus scrapes the service; rate windows are at least 4 of these."""
    rate_window: float | None = None
    """Window of ``rate()``; None: max(4 × scrape_interval, poll), in whole seconds."""
    # --- raw PromQL per gate: overrides the generated query ---
    error_rate: str | None = None
    p95_seconds: str | None = None
    request_rate: str | None = None
    up: str | None = None
    """Target health query; by default ``up{job="…"}`` (with ``job``) or ``up{$selector}``.
    Judged on the series it matches: 0 makes the sample unknown ("target down"); matching
    nothing is a notice, not a verdict."""
    extra: tuple[QuerySettings, ...] = ()
    """Optional gates (DB connections, memory, CPU)."""


@dataclass(frozen=True)
class GateSettings:
    error_rate_max: float = 0.001
    p95_max_ms: float = 200.0
    min_request_rate: float = 1.0
    consecutive_failures: int = 3
    poll: float = 5.0
    no_data_timeout: float = 600.0
    unknown_pause_after: int = 3
    """Consecutive unknown samples that pause promotion and alert."""
    auto_rollback: bool = True
    # --- canary against baseline (stable over the same window) ---
    rule: str = "absolute"
    """Default rule of the canary's gates: ``absolute`` | ``relative``."""
    error_rate_rule: str | None = None
    """``absolute`` | ``relative``; None: ``rule``."""
    p95_rule: str | None = None
    """``absolute`` | ``relative`` | ``mann-whitney``; None: ``rule``."""
    error_rate_factor: float = 1.5
    error_rate_margin: float = 0.0005
    error_rate_ceiling: float = 0.01
    p95_factor: float = 1.2
    p95_margin_ms: float = 20.0
    p95_ceiling_ms: float = 500.0
    min_requests: int = 50
    """Requests each track needs in the window before canary and stable are compared."""
    mw_confidence: float = 0.98
    mw_tolerance: float = 0.25
    mw_effect_min: float = 1.1
    mw_min_shift_ms: float = 10.0
    mw_min_samples: int = 10


@dataclass(frozen=True)
class HttpCheck:
    url: str
    method: str = "GET"
    expect_status: int = 200
    body_contains: str | None = None
    timeout: float = 5.0
    retries: int = 2
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeSettings:
    http: tuple[HttpCheck, ...] = ()
    manual: tuple[str, ...] = (
        "Can users login?",
        "Can create product?",
        "Can checkout?",
        "Can view admin dashboard?",
        "Error handling working?",
    )
    log_patterns: tuple[str, ...] = (
        "(?i)exception",
        "(?i)database .* (error|timeout)",
        "(?i)security",
    )
    stable_for: float = 300.0
    """Seconds staging must stay green before production may start."""
    items: tuple[ItemSpec, ...] = ()
    """``[[smoke.items]]``: manual smoke checks with a role (after ``manual``)."""


@dataclass(frozen=True)
class EnvironmentSettings:
    name: str
    context: str | None = None
    namespace: str = "default"
    deployment: str = "app"
    service: str = "app"
    manifests: tuple[str, ...] = ()
    selector: str = ""
    """PromQL label matchers substituted for ``$selector``."""
    track_label: str = "track"
    strategy: Strategy = Strategy.CANARY
    traffic: Traffic = Traffic.REPLICAS
    canary_steps: tuple[CanaryStep, ...] = DEFAULT_STEPS
    monitoring_window: float = 1800.0
    rollout_timeout: float = 600.0
    colour_label: str = "color"
    ingress: str | None = None
    """Stable Ingress name (traffic = nginx)."""
    route: str | None = None
    """HTTPRoute name (traffic = gateway)."""
    replicas: int | None = None
    """Replica count for the canary math; None reads it from the stable Deployment."""
    preview_service: str | None = None
    """Blue-green: a Service b2tui points at the idle colour (creating it from ``service``
    when missing) so the smoke checks reach the new version before the switch."""
    preview_url: str | None = None
    """Where the checks reach ``preview_service`` from here; None: through the API
    server's service proxy."""


@dataclass(frozen=True)
class NotifySettings:
    deployments_webhook: Secret | None = None
    incident_webhook: Secret | None = None
    webhook: Secret | None = None
    """A generic JSON webhook receiving every notification."""
    changelog: str | None = "CHANGELOG.md"
    github_token: Secret | None = None
    github_repo: str | None = None
    """``owner/name`` whose issues ``Fixes #N`` closes."""
    github_api: str = "https://api.github.com"
    pagerduty_routing_key: Secret | None = None
    """PagerDuty Events API v2 integration key: a rollback triggers, its recovery resolves."""
    pagerduty_api: str = "https://events.pagerduty.com"
    opsgenie_api_key: Secret | None = None
    """Opsgenie API key (GenieKey): a rollback creates an alert, its recovery closes it."""
    opsgenie_api: str = "https://api.opsgenie.com"
    """``https://api.eu.opsgenie.com`` for the EU instance."""
    page_roles: tuple[str, ...] | None = None
    """Roles of ``[roles]`` a rollback pages (named in the pagers' alerts; Opsgenie's
    responders). None: ``on-call`` and ``tech-lead``, those ``[roles]`` has."""


@dataclass(frozen=True)
class TerminalSettings:
    """How the control room calls the on-call (``[terminal]``)."""

    bell: bool = True
    """Ring the terminal bell when the run needs a person or something bad starts."""
    notify: bool = True
    """Send a desktop notification by escape sequence (OSC 9 and OSC 777) with it."""


@dataclass(frozen=True)
class ReadinessSettings:
    pii: bool = False
    migrations: bool = False
    emergency_hold_factor: float = 0.2
    """Holds are multiplied by this on the emergency path."""
    items: tuple[ItemSpec, ...] | None = None
    """``[[readiness.items]]``: the team's checklist; None: the built-in one."""


@dataclass(frozen=True)
class StoreSettings:
    backend: str = "sqlite"
    """``sqlite`` (embedded default, one host) or ``kube`` (Lease + ConfigMaps)."""
    namespace: str | None = None
    """kube: namespace of the run's objects; default: the production environment's."""
    context: str | None = None
    """kube: kubeconfig context; default: the production environment's."""


@dataclass(frozen=True)
class MonitoringCheck:
    """A manual check of the monitoring window, signed off like smoke's manual checks."""

    title: str
    stage: str = "key metrics"
    """The stage it is due in (``high alert``, ``key metrics``, ``settle``): due by its end."""
    owner: str = "@devops-engineer"
    """Who must sign it."""


@dataclass(frozen=True)
class MonitoringSettings:
    """``[monitoring]``: checks during the post-deploy window, next to the gates."""

    manual: tuple[MonitoringCheck, ...] = ()
    log_patterns: tuple[str, ...] = ()
    """Regular expressions scanned in the new pods' logs at every poll of the window."""
    http: tuple[HttpCheck, ...] = ()
    """``[[monitoring.http]]``: requested at every poll of the window."""


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    docker: DockerSettings = field(default_factory=DockerSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    gates: GateSettings = field(default_factory=GateSettings)
    smoke: SmokeSettings = field(default_factory=SmokeSettings)
    readiness: ReadinessSettings = field(default_factory=ReadinessSettings)
    environments: dict[str, EnvironmentSettings] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    roles: Roles = field(default_factory=Roles)
    """``[roles]``: who may sign what; not configured: anyone may."""
    people: dict[str, str] = field(default_factory=dict)
    """``[people]``: commit email (lower case) → account."""
    terminal: TerminalSettings = field(default_factory=TerminalSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    path: str | None = None
    """File the settings came from (None for built-in defaults)."""

    def environment(self, name: str) -> EnvironmentSettings:
        try:
            return self.environments[name]
        except KeyError:
            where = self.path or "configuration"
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                [
                    f"{where}: environment {name!r} is not defined (defined: {known});"
                    f" add an [environments.{name}] table"
                ]
            ) from None
