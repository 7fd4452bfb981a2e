"""Headless output: every event as a JSON line, or a readable progress line."""

from __future__ import annotations

import json
from typing import IO

from b2tui.domain import events as ev
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import verdict_text
from b2tui.masking import mask, mask_data


class Printer:
    """Prints events: JSON lines, or readable progress lines (quiet on repeated gates)."""

    def __init__(self, out: IO[str], as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self._gate_status: dict[tuple[str | None, str], str] = {}

    def __call__(self, e: ev.Event) -> None:
        if self.as_json:
            self.out.write(json.dumps(mask_data(e.to_dict())) + "\n")
            self.out.flush()
            return
        line = self.describe(e)
        if line:
            phase = f"[{e.phase.value}]" if e.phase else ""
            self.out.write(mask(f"{e.ts:%H:%M:%S} {phase:13} {line}") + "\n")
            self.out.flush()

    def describe(self, e: ev.Event) -> str | None:
        match e:
            case ev.RunStarted():
                return f"run {e.run_id}: {e.service} {e.version} → {e.environment} ({e.strategy})"
            case ev.RunResumed():
                return f"run {e.run_id} resumed by {e.by}"
            case ev.PhaseStarted():
                return "phase started"
            case ev.PhaseCompleted():
                return f"phase completed in {format_duration(e.duration)}"
            case ev.GateSampled():
                key = (e.track, e.gate)
                if self._gate_status.get(key) == e.status:
                    return None
                self._gate_status[key] = e.status
                track = f"{e.track} " if e.track else ""
                # One place words a verdict: value, sign, limit, the rule that decided.
                return f"gate {track}{e.gate} {e.status.upper()}: {verdict_text(e.result())}"
            case ev.TrafficChanged():
                return f"traffic {e.canary_percent}% (achieved {e.achieved_percent:g}%, {e.detail})"
            case ev.HoldStarted():
                return f"hold {format_duration(e.seconds)}" if e.seconds else None
            case ev.StageChanged():
                return f"monitoring stage {e.number}: {e.stage}"
            case ev.RollbackStarted():
                return f"ROLLBACK by {e.by}: {e.reason} → rev {e.target.get('revision')}"
            case ev.RollbackCompleted():
                done = "restored" if e.changed else "already on target"
                rec = "service recovered" if e.recovered else "recovery NOT verified"
                return f"rollback completed in {format_duration(e.duration)}: {done}, {rec}"
            case ev.Notice():
                return f"{e.level}: {e.message}"
            case ev.CommandFinished():
                status = "timed out" if e.exit_code is None else f"exit {e.exit_code}"
                return f"{e.name}: {status} ({format_duration(e.duration)})"
            case ev.LogLine():
                # Engine-authored lines only; streamed build/command output stays in --json.
                return e.line if e.source in ("engine", "kube", "logs") else None
            case ev.ChecklistChanged():
                if e.state == "pending" or e.by:
                    return None
                by = f" by {e.by}" if e.by else ""
                return f"check {e.title}: {e.state}{by}"
            case ev.PauseChanged():
                return ("paused: " if e.paused else "resumed: ") + e.reason
            case ev.Notified():
                return f"notified {e.channel}: {'ok' if e.ok else e.detail}"
            case ev.OperatorActed():
                return f"{e.user}: {e.action} {e.detail}".rstrip()
            case ev.RunFinished():
                return f"run {e.outcome.upper()}" + (f": {e.reason}" if e.reason else "")
        return None
