"""The command line's grammar: subcommands, their options, and the argument types that
turn bad input into one :class:`UsageError` line (what, where, how to fix)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from b2tui import __version__
from b2tui.config import SANDBOX_RULES
from b2tui.config.sandbox import REPLICAS_RANGE
from b2tui.domain.phases import Strategy


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


if TYPE_CHECKING:
    _Subcommands = argparse._SubParsersAction[_Parser]


SPEED_RANGE = (0.01, 10_000.0)
"""``--speed`` bounds: slower never gets anywhere, faster is what ``max`` is for."""
SEED_RANGE = (0, 2**32 - 1)
LIMIT_RANGE = (1, 1_000_000)


def parse_speed(text: str) -> float | None:
    """``max`` → None (virtual time, no sleeping); otherwise a number in :data:`SPEED_RANGE`."""
    if text == "max":
        return None
    lo, hi = SPEED_RANGE
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # also false for nan
        raise UsageError(
            f"bad --speed {text!r}: expected simulated seconds per real second from {lo:g}"
            f" to {hi:g} (e.g. 10), or 'max' to run without sleeping"
        )
    return value


def _whole(flag: str, bounds: tuple[int, int]) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number within ``bounds`` (inclusive)."""
    lo, hi = bounds

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            shown = text if len(text) <= 24 else text[:23] + "…"
            raise UsageError(f"bad {flag} {shown!r}: expected a whole number from {lo} to {hi}")
        return value

    return parse


def _path(flag: str, what: str, default: str) -> Callable[[str], str]:
    """An argparse ``type`` for a non-empty path: an empty one must not mean ``default``."""

    def parse(text: str) -> str:
        if not text.strip():
            raise UsageError(
                f"{flag} is empty: pass the path of {what}, or leave {flag} out for {default}"
            )
        return text

    return parse


_state_path = _path("--state", "a state file", "$XDG_STATE_HOME/b2tui/b2tui.db")
_config_path = _path("--config", "a b2tui.toml", "./b2tui.toml")

_CONFIG_HELP = "b2tui.toml (default: ./b2tui.toml)"
_TAKE_OVER_HELP = "headless watcher: drive the run once its driver is gone"


def _replay_speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed {text!r} is not a number") from None
    if not 0.1 <= value <= 10000:
        raise argparse.ArgumentTypeError(f"--speed {text} is outside 0.1 to 10000")
    return value


def _add_switches(sp: argparse.ArgumentParser, *switches: str | tuple[str, str]) -> None:
    """``store_true`` flags, each a name or a (name, help) pair, in ``--help`` order."""
    for switch in switches:
        flag, helptext = (switch, None) if isinstance(switch, str) else switch
        sp.add_argument(flag, action="store_true", help=helptext)


def _add_state(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--state",
        type=_state_path,
        metavar="PATH",
        help="state database (default: $XDG_STATE_HOME/b2tui/b2tui.db)",
    )


def _add_config_env(sp: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """``--config FILE`` and ``--env`` (default production)."""
    sp.add_argument("--config", type=_config_path, metavar="FILE", help=config_help)
    sp.add_argument("--env", default="production")


def _add_real_env(sp: argparse.ArgumentParser) -> None:
    """What a control room on the real environment needs: config, env and staging."""
    _add_config_env(sp, _CONFIG_HELP)
    sp.add_argument("--staging", default="staging", help="staging environment name")


def _add_demo(sub: _Subcommands) -> None:
    demo = sub.add_parser("demo", help="the control room on the embedded sandbox")
    demo.add_argument("--scenario", default="happy", help="fault scenario (default: happy)")
    demo.add_argument("--strategy", default="canary", choices=[s.value for s in Strategy])
    demo.add_argument(
        "--speed",
        metavar="N|max",
        help="simulated seconds per real second; max = no sleeping "
        "(default: 10, max when --headless)",
    )
    demo.add_argument("--seed", type=_whole("--seed", SEED_RANGE), default=7)
    demo.add_argument(
        "--replicas",
        metavar="N",
        type=_whole("--replicas", REPLICAS_RANGE),
        help="production pods in the sandbox (default: 10); e.g. 5000 to see a big table",
    )
    demo.add_argument(
        "--rule",
        default="absolute",
        choices=list(SANDBOX_RULES),
        help="how the canary is judged: absolute limits (default), relative to stable,"
        " or relative errors + Mann–Whitney latency (the scenarios' baseline variants)",
    )
    demo.add_argument(
        "--notify",
        type=_config_path,
        metavar="FILE",
        help="also send the demo's notifications to the [notify] channels of this b2tui.toml"
        " (pagers, Slack, webhook; not the changelog or GitHub issues) and use its [terminal]",
    )
    _add_switches(
        demo,
        ("--headless", "no TUI (implies --autopilot)"),
        ("--json", "one JSON event per line on stdout"),
        ("--autopilot", "advance whenever gates allow; sign manual items as 'sandbox'"),
        ("--emergency", "emergency path"),
        ("--list", "list the scenarios and exit"),
        ("--take-over", _TAKE_OVER_HELP),
    )
    _add_state(demo)


def _add_deploy(sub: _Subcommands, name: str, helptext: str) -> _Parser:
    """A command that drives (or follows) a real run: ``run`` and ``tui``."""
    sp = sub.add_parser(name, help=helptext)
    _add_real_env(sp)
    _add_switches(sp, "--emergency", "--autopilot")
    sp.add_argument("--version-sha", dest="sha", help="commit to deploy (default: git HEAD)")
    sp.add_argument(
        "--image",
        metavar="REF",
        help="deploy this image CI already built: no build or push, the registry must have it",
    )
    sp.add_argument(
        "--flag",
        dest="flags",
        action="append",
        default=[],
        type=_flag,
        metavar="NAME",
        help="a run flag: makes items with required_if = NAME required (e.g. major-feature)",
    )
    return sp


def _flag(text: str) -> str:
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", text):
        raise UsageError(
            f"bad --flag {text[:30]!r}: a name of lower-case letters, digits, - and _"
            " (as in required_if), e.g. --flag major-feature"
        )
    return text


def _add_run_and_tui(sub: _Subcommands) -> None:
    run = _add_deploy(sub, "run", "a real run through the configured adapters")
    _add_switches(
        run,
        ("--dry-run", "check everything and send every change with dryRun=All; no build, no run"),
        "--headless",
        "--json",
        ("--take-over", _TAKE_OVER_HELP),
    )
    _add_state(run)
    _add_state(_add_deploy(sub, "tui", "the control room on the real environment"))


def _add_oneshot(sub: _Subcommands, name: str, helptext: str) -> _Parser:
    """A one-shot command on an environment: ``--config``, ``--env``, ``--json``."""
    sp = sub.add_parser(name, help=helptext)
    _add_config_env(sp)
    _add_switches(sp, "--json")
    return sp


def _add_sandbox_oneshot(sub: _Subcommands, name: str, helptext: str) -> _Parser:
    """A one-shot command that also works on the demo's sandbox (``--sandbox``)."""
    sp = _add_oneshot(sub, name, helptext)
    _add_state(sp)
    _add_switches(
        sp, ("--sandbox", "the demo's sandbox as the newest demo run left it (no cluster needed)")
    )
    return sp


def _add_cluster_oneshots(sub: _Subcommands) -> None:
    gates = _add_oneshot(sub, "gates", "each gate's value, threshold and status once")
    gates.add_argument("--track", choices=["canary", "stable"])
    _add_switches(
        gates, ("--explain", "list the series the configured names find and a config that matches")
    )
    status = _add_sandbox_oneshot(
        sub, "status", "deployments, pods, traffic split and rollback target"
    )
    _add_switches(status, ("--line", "the run in one short line from the store (tmux status bar)"))
    rollback = _add_sandbox_oneshot(
        sub, "rollback", "idempotent rollback to the recorded known-good revision"
    )
    _add_switches(
        rollback, ("--dry-run", "send every change with dryRun=All and print what would change")
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="b2tui",
        description="Terminal control room for monitoring-gated "
        "continuous deployment to Kubernetes.",
    )
    p.add_argument("--version", action="version", version=f"b2tui {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    _add_demo(sub)
    _add_run_and_tui(sub)

    hist = sub.add_parser("history", help="past runs and the DORA figures")
    _add_switches(hist, "--json")
    hist.add_argument("--limit", type=_whole("--limit", LIMIT_RANGE), default=50)
    _add_config_env(hist, "read the runs from this file's [store] (e.g. kube)")
    _add_state(hist)

    att = sub.add_parser(
        "attach", help="the control room on a run another host drives ([store] backend = kube)"
    )
    _add_real_env(att)
    _add_switches(att, ("--headless", "print the run's events, no TUI"), "--json")

    _add_cluster_oneshots(sub)

    ab = sub.add_parser(
        "abort",
        help="end the unfinished run: aborted, or rolled back once production was touched",
    )
    _add_config_env(ab, "b2tui.toml of a real run")
    _add_switches(
        ab,
        ("--demo", "the sandbox run of `b2tui demo`"),
        ("--json", "the rollback's events as JSON lines"),
    )
    _add_state(ab)

    sign = sub.add_parser(
        "sign", help="sign a checklist item of the running run, as who the OS says you are"
    )
    sign.add_argument("item", help="the item's key, e.g. review_approved")
    _add_config_env(sign, "b2tui.toml of a real run")
    _add_switches(
        sign, ("--demo", "the sandbox run of `b2tui demo`"), ("--json", "the answer as JSON")
    )
    _add_state(sign)

    rbac = sub.add_parser(
        "rbac", help="the Roles that let only each [roles] role sign (kube store), as YAML"
    )
    _add_config_env(rbac, 'b2tui.toml with [roles] and [store] backend = "kube"')

    audit = sub.add_parser("audit", help="the audit log; --verify checks its hash chain")
    _add_switches(
        audit,
        "--json",
        ("--verify", "exit 0 if every entry matches its hash chain, else 1 naming the first"),
    )
    audit.add_argument("--config", type=_config_path, metavar="FILE", help="read its [store]")
    audit.add_argument("--env", default="production")
    _add_state(audit)
    pm = sub.add_parser("postmortem", help="the incident write-up of a run, from its journal")
    pm.add_argument("run", metavar="RUN", help="run id (`b2tui history` lists them)")
    _add_config_env(pm, "read the run from this file's [store]; --github uses its [notify]")
    _add_state(pm)
    pm.add_argument("--output", metavar="FILE", help="write the Markdown here (default: stdout)")
    _add_switches(
        pm, ("--github", "file it as a GitHub issue (labels incident, deployment); print its URL")
    )

    rp = sub.add_parser("replay", help="the control room over a recorded run, read-only")
    rp.add_argument("run", metavar="RUN", help="run id (`b2tui history` lists them)")
    _add_config_env(rp, "read the run from this file's [store]")
    _add_state(rp)
    rp.add_argument(
        "--speed",
        type=_replay_speed,
        metavar="N",
        help="run seconds per real second while playing (default 10; 0.1 to 10000)",
    )

    cc = sub.add_parser("check-config", help="validate a b2tui.toml")
    cc.add_argument("path", nargs="?", default="b2tui.toml")
    init = sub.add_parser("init", help="write a commented example b2tui.toml")
    init.add_argument("path", nargs="?", default="b2tui.toml")
    _add_switches(init, "--force")
    return p
