"""``KubeCluster``: the :class:`~b2tui.ports.Cluster` port on a Kubernetes API server.

Each port method is written once, blocking, and runs in a worker thread
(:func:`~b2tui.adapters.kube.client.threaded`); workflow steps turn their failures into
:class:`~b2tui.ports.StepFailed` (:func:`~b2tui.adapters.kube.errors.step`). The
method picks the environment's :class:`~b2tui.ports.Target`, its
connection and its traffic router (chosen once), and delegates to the module that owns
the concern: :mod:`.apply`, :mod:`.canary`, :mod:`.traffic`, :mod:`.bluegreen`,
:mod:`.logs`, :mod:`.watch`, :mod:`.revisions`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable

from b2tui.adapters.kube import apply, bluegreen, canary, logs, preview
from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube import revisions as revs
from b2tui.adapters.kube.client import Api, Conn, connect, default_kubeconfig, threaded
from b2tui.adapters.kube.errors import KubeApiError, Op, step
from b2tui.adapters.kube.objects import COLOURS, Obj
from b2tui.adapters.kube.pods import pod_info
from b2tui.adapters.kube.rollback import FirstWrite, RollbackLine
from b2tui.adapters.kube.traffic.base import TrafficRouter
from b2tui.adapters.kube.traffic.factory import router_for
from b2tui.adapters.kube.watch import PodWatch
from b2tui.config import HttpCheck
from b2tui.domain.phases import Strategy
from b2tui.domain.traffic import PROVIDERS
from b2tui.ports import (
    CheckResult,
    DeploymentStatus,
    PodInfo,
    Revision,
    RollbackResult,
    RolloutState,
    SourceError,
    StepFailed,
    Target,
    TrafficSplit,
)


class KubeCluster:
    """The :class:`~b2tui.ports.Cluster` port on a Kubernetes API server.

    Args:
        kubeconfig: kubeconfig path; None uses ``$KUBECONFIG`` or ``~/.kube/config``
            (in-cluster config when neither exists and ``KUBERNETES_SERVICE_HOST`` is set).
        dry_run: send every change with ``dryRun=All`` (the server checks it, nothing
            is stored) and do not wait for rollouts: what ``--dry-run`` runs on.
        request_timeout: seconds per API request.
        watch_backoff_cap: longest retry delay of the pod watches, seconds.
        watch_timeout: ``timeoutSeconds`` each pod watch stream asks of the server; the
            watch resumes from its last resourceVersion when the server closes it.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        dry_run: bool = False,
        request_timeout: float = 10.0,
        watch_backoff_cap: float = 30.0,
        watch_timeout: int = 240,
    ) -> None:
        self.kubeconfig = kubeconfig or default_kubeconfig()
        self.dry_run = dry_run
        self.request_timeout = request_timeout
        self.watch_backoff_cap = watch_backoff_cap
        self.watch_timeout = watch_timeout
        self._apis: dict[str | None, Api] = {}
        self._routers: dict[Target, TrafficRouter] = {}
        self._watches: dict[tuple[str | None, str, str], PodWatch] = {}
        self._selectors: dict[tuple[str | None, str, str], str] = {}
        self._first_writes: dict[Target, FirstWrite] = {}
        """Per target, the rollback's first write for the canary this process set last."""
        self._lock = threading.Lock()
        self._line = RollbackLine(self._connect)

    # --- per environment: connection, target, router -----------------------------------

    def _connect(self, context: str | None) -> Api:
        return Api(connect(self.kubeconfig, context), self.request_timeout, dry_run=self.dry_run)

    def _api(self, env: Target) -> Api:
        with self._lock:
            api = self._apis.get(env.context)
            if api is None:
                api = self._apis[env.context] = self._connect(env.context)
            return api

    def _open(self, env: Target) -> tuple[Api, Target]:
        return self._api(env), env

    def _router(self, target: Target) -> TrafficRouter:
        with self._lock:
            router = self._routers.get(target)
            if router is None:
                router = self._routers[target] = router_for(target)
            return router

    # --- Cluster port -------------------------------------------------------------------

    @threaded
    def current_revision(self, env: Target) -> Revision:
        """The revision serving now (the stable Deployment, or the active colour)."""
        api, target = self._open(env)
        return revs.current(api, target, lambda: self._list_pods(api, target))

    @threaded
    def revisions(self, env: Target) -> list[Revision]:
        """Earlier revisions still restorable, newest first (:func:`.revisions.earlier`)."""
        return revs.earlier(*self._open(env))

    @threaded
    def check_target(self, env: Target) -> list[str]:
        """Problems with the target: context, API server, namespace, Deployment, Service.

        For an environment with ``manifests`` only the context, the API server and (when
        readable) the namespace are checked: the manifests create the rest.
        """
        target = env
        try:
            api = self._api(target)
            api.call(Op("get", "version"), api.conn.version.get_code)
        except SourceError as e:
            return [str(e)]
        self._line.warm(target)  # the run starts: open the rollback's connection now
        problems: list[str] = []
        ns = target.namespace
        try:
            if api.get(Op("get", "namespaces", None, ns), api.conn.core.read_namespace, ns) is None:
                return [f"namespace {ns} does not exist (context {api.conn.context})"]
        except KubeApiError as e:
            if e.status != 403:  # a namespaced Role cannot read namespaces: not a problem
                problems.append(str(e))
        if target.manifests:
            # The environment's manifests create its Deployment and Service when the run
            # applies them (after this check): their absence now is not a problem.
            return problems
        reads: list[tuple[str, str]] = []
        if target.strategy is Strategy.BLUE_GREEN:
            try:
                reads.append(("deployments", revs.serving(api, target)[0]))
            except SourceError as e:
                problems.append(str(e))
        else:
            reads += [("deployments", target.deployment), ("services", target.service)]
        for kind, name in reads:
            try:
                if kind == "deployments":
                    api.deployment(ns, name)
                else:
                    api.service(ns, name)
            except SourceError as e:
                problems.append(str(e))
        if target.strategy is Strategy.CANARY:
            problems += self._router(target).check(api)
            cannot = self._header_problem(target)
            if cannot:
                problems.append(cannot)
        return problems

    @staticmethod
    def _header_problem(target: Target) -> str | None:
        """Why ``target``'s ``canary_header`` cannot be routed; None when it can."""
        provider = PROVIDERS.get(target.traffic)
        cannot = provider.header_problem(target) if provider else None
        return f"environments.{target.name}: {cannot}" if cannot else None

    @threaded
    @step
    def deploy(self, env: Target, image: str) -> None:
        """Server-side apply the environment's manifests with ``image`` set."""
        api, target = self._open(env)
        apply.apply_manifests(api, target, image)

    @threaded
    def rollout(self, env: Target, track: str | None = None) -> RolloutState:
        """Rollout progress of the Deployment of ``track`` (when None: stable, or for
        blue-green the colour the Service selects)."""
        api, target = self._open(env)
        if track is None:
            # A blue-green pair has no Deployment named env.deployment: the one serving is
            # the active colour (what a rollback restores and recovery must wait for).
            name = revs.serving(api, target)[0]
        else:
            name = target.track_deployment(track)
        return o.rollout_state(api.deployment(target.namespace, name))

    # --- pods ---------------------------------------------------------------------------

    def _selector(self, api: Api, target: Target) -> str:
        """The workloads' label selector, without the track/colour label."""
        key = (target.context, target.namespace, target.deployment)
        with self._lock:
            cached = self._selectors.get(key)
        if cached is not None:
            return cached
        labels: dict[str, str] | None = None
        for name in (target.deployment, *(target.colour_deployment(c) for c in COLOURS)):
            d = api.maybe_deployment(target.namespace, name)
            if d is not None:
                labels = o.match_labels(d)
                break
        if labels is None:
            svc = api.maybe_service(target.namespace, target.service)
            if svc is None:
                raise KubeApiError(
                    f"deployment {target.deployment} not found in namespace {target.namespace}",
                    404,
                )
            labels = o.service_selector(svc)
        for drop in (target.track_label, target.colour_label):
            labels.pop(drop, None)
        sel = o.selector_string(labels)
        with self._lock:
            self._selectors[key] = sel
        return sel

    def watch(self, env: Target) -> PodWatch:
        """The pod watch of ``env`` (started on first use). Blocking: call from a thread."""
        api, target = self._open(env)
        sel = self._selector(api, target)
        key = (target.context, target.namespace, sel)
        with self._lock:
            w = self._watches.get(key)
            fresh = w is None
            if w is None:
                w = PodWatch(
                    api.conn.core,
                    target.namespace,
                    sel,
                    describe=api.conn.describe,
                    request_timeout=self.request_timeout,
                    backoff_cap=self.watch_backoff_cap,
                    watch_timeout=self.watch_timeout,
                ).start()
                self._watches[key] = w
        if fresh:
            # The first list is the watch's own; wait briefly rather than list twice.
            w.wait_live(min(2.0, self.request_timeout))
        return w

    def _list_pods(self, api: Api, target: Target) -> list[Obj]:
        doc = api.call(
            Op("list", "pods", target.namespace),
            api.conn.core.list_namespaced_pod,
            target.namespace,
            label_selector=self._selector(api, target) or None,
        )
        return o.items(doc, "items")

    @threaded
    def pods(self, env: Target) -> list[PodInfo]:
        """Pods of the environment's workloads, served from a live watch when there is one."""
        api, target = self._open(env)
        w = self.watch(env)
        raw = w.snapshot() if w.live else self._list_pods(api, target)
        infos = [
            pod_info(
                p,
                track_label=target.track_label,
                colour_label=target.colour_label,
                container=target.deployment,
            )
            for p in raw
        ]
        return sorted(infos, key=lambda p: (p.track, p.name))

    @threaded
    def scan_logs(
        self, env: Target, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        """Lines matching each pattern in the recent logs of the new pods."""
        api, target = self._open(env)
        sel = self._selector(api, target)
        pods = logs.new_pods(api, target, self._list_pods(api, target), sel)
        return logs.scan(api, target, pods, patterns, since_seconds)

    # --- canary -------------------------------------------------------------------------

    @threaded
    @step
    def set_canary(self, env: Target, image: str, percent: int) -> TrafficSplit:
        """Run ``image`` as the canary and give it ``percent`` of the traffic.

        Then the rollback's first write for what was written is prepared, and the
        rollback's connection kept warm.
        """
        api, target = self._open(env)
        self._prepare_rollback(target, None)  # a rollback meanwhile reads first
        split = canary.ensure_canary(api, target, image, percent)
        router = self._router(target)
        done = router.set_weight(api, percent, split)
        self._prepare_rollback(target, router.first_reset(percent, split))
        self._line.warm(target)
        return done

    def _prepare_rollback(self, target: Target, first: FirstWrite | None) -> None:
        with self._lock:
            if first is None:
                self._first_writes.pop(target, None)
            else:
                self._first_writes[target] = first

    @threaded
    @step
    def promote(self, env: Target, image: str) -> None:
        """Stable runs ``image`` at full scale; then the canary and its traffic go away."""
        api, target = self._open(env)
        self._prepare_rollback(target, None)  # the canary is going away
        ns = target.namespace
        stable = api.deployment(ns, target.deployment)
        current = api.maybe_deployment(ns, target.canary)
        total = canary.total_replicas(target, stable, current)
        api.set_image(target, target.deployment, stable, image, replicas=total)
        api.wait_rollout(ns, target.deployment, target.rollout_timeout)
        self._reset_traffic(api, target)

    @threaded
    @step
    def canary_preview(self, env: Target, image: str, percent: int) -> str:
        """Before the first weight: ``image`` as the canary at ``percent``'s replicas (stable
        untouched), its header route (``canary_header``) and/or the preview Service on its
        pods; the URL the checks reach it at through the service proxy."""
        api, target = self._open(env)
        cannot = self._header_problem(target)
        if cannot:
            raise StepFailed(cannot)
        self._prepare_rollback(target, None)  # a rollback meanwhile reads first
        canary.ensure_canary(api, target, image, percent)
        if target.canary_header:
            self._router(target).route_header(api)
        if target.preview_service:
            return api.conn.url + preview.point_canary(api, target)
        if not target.canary_header:
            raise StepFailed(
                f"{target.name}: nothing reaches the canary before its first weight: name a"
                " preview_service, or a canary_header (traffic nginx or gateway)"
            )
        return api.conn.url + preview.base(api, target)

    @threaded
    @step
    def withdraw_canary(self, env: Target) -> bool:
        """The canary out of traffic (weight 0, header route gone) and scaled to 0."""
        api, target = self._open(env)
        self._prepare_rollback(target, None)
        return self._reset_traffic(api, target)

    def _reset_traffic(self, api: Api, target: Target) -> bool:
        """All traffic to stable, canary scaled to 0; True when anything changed."""
        changed = self._router(target).reset(api)
        return canary.scale_down(api, target) or changed

    # --- blue-green ---------------------------------------------------------------------

    @threaded
    @step
    def stage_colour(self, env: Target, image: str) -> str:
        """Deploy ``image`` to the idle colour at the active colour's scale; return it."""
        return bluegreen.stage(*self._open(env), image)

    @threaded
    @step
    def preview(self, env: Target, colour: str) -> str:
        """Point the preview Service at ``colour``; return its URL on the API server's
        service proxy (see :mod:`.preview`)."""
        api, target = self._open(env)
        return api.conn.url + preview.point(api, target, colour)

    @threaded
    @step
    def preview_check(self, env: Target, check: HttpCheck) -> CheckResult:
        """One smoke check sent through the service proxy to the Service the checks reach
        (the preview Service; a canary routed by header: ``<service>-canary``)."""
        api, target = self._open(env)
        return preview.check(api, target, preview.base(api, target), check)

    @threaded
    @step
    def switch_colour(self, env: Target, colour: str) -> TrafficSplit:
        """Point the Service selector at ``colour``."""
        return bluegreen.switch(*self._open(env), colour)

    @threaded
    @step
    def retire_colour(self, env: Target, colour: str) -> None:
        """Scale ``colour`` to 0 (after the monitoring window ended green)."""
        bluegreen.retire(*self._open(env), colour)

    # --- rollback -----------------------------------------------------------------------

    def rollback(self, env: Target, target: Revision) -> Awaitable[RollbackResult]:
        """Traffic back to ``target`` first, then its workload. Idempotent.

        Not a coroutine: the call itself starts the rollback on the rollback line (its
        own thread and connection, :mod:`.rollback`), so the first request leaves while
        the caller goes on; the awaitable gives the result.
        """
        return self._line.submit(self._rollback, env, target)

    @step
    def _rollback(
        self, handover: Callable[[], None], env: Target, target: Revision
    ) -> RollbackResult:
        """The rollback, blocking, on the rollback line.

        When this process set the canary, the prepared first write (a JSON patch that
        tests what was written) takes it out of traffic before anything is read. Then
        each step reads the one object it may change and writes only when it differs, so
        a second rollback (same process or another) is a no-op that says ``already on
        rev N`` — never the flip back to the bad version that ``kubectl rollout undo``
        twice does. ``handover`` is called once the prepared write is answered (at once
        when there is none): the caller waits for it (:meth:`RollbackLine.submit`).
        """
        api, where = self._line.api(env), env
        notes: list[str] = []
        with self._lock:
            first = self._first_writes.pop(where, None)
        sent = first is not None and first.send(api)
        handover()  # the caller, waiting for the first write, goes on
        # 1. Traffic. Each request reads the one traffic object and fixes it.
        if target.colour:
            if bluegreen.restore(api, where, target):
                notes.append(f"traffic back to {target.colour}")
        elif self._reset_traffic(api, where) or sent:
            notes.append("canary out of traffic")
        # 2. The workload: pod template and replicas of the target revision.
        deploy, restored = revs.restore_workload(api, where, target)
        if restored:
            notes.append(restored)
        if not notes:
            rev = o.revision_of(deploy) or target.revision
            return RollbackResult(False, f"already on rev {rev} ({target.image})")
        return RollbackResult(True, "; ".join(notes))

    # --- status (b2tui status) ----------------------------------------------------------

    @threaded
    def workloads(self, env: Target) -> list[DeploymentStatus]:
        """The environment's Deployments (stable, canary, blue, green) that exist."""
        api, target = self._open(env)
        doc = api.call(
            Op("list", "deployments", target.namespace),
            api.conn.apps.list_namespaced_deployment,
            target.namespace,
        )
        tracks = {
            target.deployment: "stable",
            target.canary: "canary",
            **{target.colour_deployment(c): c for c in COLOURS},
        }
        out = [
            DeploymentStatus(
                name=o.name(d),
                revision=o.revision_of(d),
                image=o.image_of(d, target.deployment),
                ready=int(o.status(d).get("readyReplicas") or 0),
                desired=o.replicas(d),
                track=tracks[o.name(d)],
            )
            for d in o.items(doc, "items")
            if o.name(d) in tracks
        ]
        return sorted(out, key=lambda s: list(tracks).index(s.name))

    @threaded
    def traffic(self, env: Target) -> TrafficSplit:
        """The traffic split now: on the canary, or on the active colour (blue-green)."""
        api, target = self._open(env)
        if target.strategy is Strategy.BLUE_GREEN:
            return bluegreen.traffic(api, target)
        return self._router(target).verify(api)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop every pod watch and close the API clients."""
        with self._lock:
            watches = list(self._watches.values())
            conns: list[Conn] = [a.conn for a in self._apis.values()]
            self._watches.clear()
            self._apis.clear()
        for w in watches:
            w.stop()
        self._line.close()
        for c in conns:
            with contextlib.suppress(Exception):
                c.api.close()
