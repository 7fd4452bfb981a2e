"""Pods as the control room shows them: the reason a pod is not plainly running, and
:class:`~b2tui.ports.PodInfo` from a Pod object. Pure, unit-tested."""

from __future__ import annotations

from b2tui.adapters.kube.objects import Obj, field, items, labels, meta, parse_time, spec, status
from b2tui.ports import PodInfo, PodPhase

# Worse first: the reason a pod shows is its worst container's.
_SEVERITY = {
    "OOMKilled": 0,
    "CrashLoopBackOff": 1,
    "ImagePullBackOff": 2,
    "ErrImagePull": 3,
    "InvalidImageName": 4,
    "CreateContainerConfigError": 5,
    "CreateContainerError": 6,
    "RunContainerError": 7,
    "Error": 8,
    "ContainerCreating": 50,
    "PodInitializing": 51,
    "Completed": 60,
}


def pod_reason(pod: Obj) -> str:
    """The reason a pod is not plainly running, as ``kubectl get pods`` / k9s show it.

    ``CrashLoopBackOff`` whose last termination was ``OOMKilled`` shows ``OOMKilled``:
    the cause is what the operator needs. Empty for a healthy or plain pending pod.
    """
    if meta(pod).get("deletionTimestamp"):
        return "Terminating"
    for cs in items(pod, "status", "initContainerStatuses"):
        waiting = field(cs, "state", "waiting")
        term = field(cs, "state", "terminated")
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        if term and term.get("exitCode", 0) != 0:
            return f"Init:{term.get('reason') or 'Error'}"
    reasons: list[str] = []
    for cs in items(pod, "status", "containerStatuses"):
        last = field(cs, "lastState", "terminated")
        waiting = field(cs, "state", "waiting")
        term = field(cs, "state", "terminated")
        if waiting.get("reason"):
            if waiting["reason"] == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                reasons.append("OOMKilled")
            else:
                reasons.append(waiting["reason"])
        elif term:
            reasons.append(term.get("reason") or ("Error" if term.get("exitCode") else "Completed"))
        elif last.get("reason") == "OOMKilled" and not cs.get("ready"):
            reasons.append("OOMKilled")
    if reasons:
        return min(reasons, key=lambda r: _SEVERITY.get(r, 20))
    st = status(pod)
    if st.get("reason"):
        return str(st["reason"])  # Evicted, NodeLost …
    for cond in items(pod, "status", "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "Unschedulable")
    return ""


def pod_info(
    pod: Obj,
    *,
    track_label: str = "track",
    colour_label: str = "color",
    container: str | None = None,
) -> PodInfo:
    """Map a Pod object (dict) to the control room's :class:`PodInfo`.

    Args:
        pod: the Pod as the API returns it.
        track_label: label naming the canary track (``stable``/``canary``).
        colour_label: label naming the blue-green colour, used when there is no track.
        container: container whose image is shown; the first one when absent.
    """
    m, sp, st = meta(pod), spec(pod), status(pod)
    lbl = labels(pod)
    try:
        phase = PodPhase(st.get("phase") or "Pending")
    except ValueError:
        phase = PodPhase.UNKNOWN
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in items(pod, "status", "conditions")
    )
    restarts = sum(
        int(cs.get("restartCount") or 0) for cs in items(pod, "status", "containerStatuses")
    )
    cs = items(pod, "spec", "containers") or [{}]
    chosen = next((c for c in cs if c.get("name") == container), cs[0])
    return PodInfo(
        name=str(m.get("name", "")),
        track=str(lbl.get(track_label) or lbl.get(colour_label) or ""),
        phase=phase,
        reason=pod_reason(pod),
        ready=ready,
        restarts=restarts,
        created=parse_time(m.get("creationTimestamp")),
        image=str(chosen.get("image", "")),
        node=str(sp.get("nodeName") or ""),
    )
