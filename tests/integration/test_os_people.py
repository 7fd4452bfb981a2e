"""Sign-offs by real Unix accounts: users and a group made with ``useradd``/``groupadd``,
``b2tui sign`` run as each of them with ``setpriv`` (never by setting ``$USER``), against a
driver in this process that holds a run with ``[roles]`` and the team's own items.

Needs root (CI is root) and the shadow tools; elsewhere the tests skip with one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store
from b2tui.cli.follow import serve_local
from b2tui.config import parse_settings, sandbox_settings
from b2tui.domain.phases import Phase, Strategy
from b2tui.engine.api import Action
from b2tui.engine.clock import SteppedClock
from b2tui.engine.conductor import Conductor

ROOT = Path(__file__).parents[2]
GROUP = "b2tdev"
ALICE, BOB, CAROL = "b2talice", "b2tbob", "b2tcarol"
HOST = socket.gethostname()
pytestmark = pytest.mark.integration


def _need(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unix_people() -> Iterator[dict[str, str]]:
    """A group ``b2tdev`` and users b2talice (in it), b2tbob (in it), b2tcarol."""
    if os.geteuid() != 0:
        _need("real Unix users need root (useradd): run as root, as CI does")
    for tool in ("useradd", "groupadd", "userdel", "groupdel", "setpriv"):
        if shutil.which(tool) is None:
            _need(f"{tool} not found: install it with apt-get install passwd util-linux")
    made: list[tuple[str, str]] = []
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append(("groupdel", GROUP))
    for user, groups in ((ALICE, [GROUP]), (BOB, [GROUP]), (CAROL, [])):
        if subprocess.run(["getent", "passwd", user], capture_output=True).returncode != 0:
            extra = ["-G", ",".join(groups)] if groups else []
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", *extra, user], check=True)
            made.insert(0, ("userdel", user))
    yield {"alice": ALICE, "bob": BOB, "carol": CAROL}
    for tool, name in made:
        subprocess.run([tool, name], capture_output=True)


def _world_readable(path: Path) -> bool:
    """Every directory on the way has o+x and the path itself o+r."""
    p = path.resolve()
    for part in [p, *p.parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH or (part == p and not mode & stat.S_IROTH):
            return False
    return True


@pytest.fixture(scope="session")
def other_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Python other accounts can run b2tui with: a venv on Debian's /usr/bin/python3 in
    a world-readable directory, seeing this checkout and its dependencies (a ``.pth``) when
    others can read them, else with the checkout pip-installed into it."""
    base = Path("/usr/bin/python3")
    if not base.exists():
        _need("/usr/bin/python3 not found: apt-get install python3 python3-venv")
    top = Path(tempfile.mkdtemp(prefix="b2tui-others-"))
    top.chmod(0o755)
    venv = top / "venv"
    deps = Path(sysconfig.get_paths()["purelib"])
    shared = _world_readable(ROOT) and _world_readable(deps)
    cmd = [str(base), "-m", "venv", *(["--without-pip"] if shared else []), str(venv)]
    subprocess.run(cmd, check=True, capture_output=True)
    if shared:
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "b2tui-tests.pth").write_text(f"{ROOT}\n{deps}\n")
    else:
        subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", str(ROOT)], check=True
        )
    for d in [top, *top.rglob("*")]:
        d.chmod(d.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if d.is_dir() else 0))
    yield str(venv / "bin/python")
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every account may use (the team's shared --state and config)."""
    d = Path(tempfile.mkdtemp(prefix="b2tui-team-"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(python: str, user: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """``b2tui ARGS`` run by ``user`` (real uid, gid and groups), from /."""
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={user}",
            f"--regid={user}",
            "--init-groups",
            "--reset-env",
            python,
            "-m",
            "b2tui",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env=env,
    )


TEAM = f"""
[service]
name = "b2connect"

[roles]
reviewer = ["group:{GROUP}"]
ops = ["{BOB}", "{CAROL}"]
devops-engineer = ["{BOB}"]
qa-engineer = ["{BOB}"]
tech-lead = ["{CAROL}"]

[people]
"alice@example.org" = "{ALICE}"

[[readiness.items]]
key = "tests_passing"

[[readiness.items]]
key = "review_approved"

[[readiness.items]]
key = "oncall_aware"
title = "On-call team aware"
role = "ops"
signers = 2

[[readiness.items]]
key = "customer_notified"
title = "Customer notification sent (for major features)"
role = "tech-lead"
required_if = "major-feature"

[environments.staging]
namespace = "staging"

[environments.production]
namespace = "production"
"""


def shared_state(d: Path) -> Path:
    """A state file the team's accounts may open (the WAL's -shm must be writable too)."""
    state = d / "state.db"
    Store(state).close()
    for f in d.glob("state.db*"):
        f.chmod(0o666)
    return state


def _lock_up(d: Path) -> None:
    for f in d.glob("state.db*"):
        f.chmod(0o600)


def sign(python: str, user: str, cfg: Path, state: Path, item: str, **env: str) -> Any:
    res = as_user(
        python, user, "sign", item, "--config", str(cfg), "--state", str(state), "--json", env=env
    )
    assert res.stdout, res.stderr
    return res.returncode, json.loads(res.stdout)


async def test_real_accounts_sign_by_role_and_four_eyes(
    unix_people: dict[str, str], other_python: str, shared_dir: Path
) -> None:
    cfg = shared_dir / "b2tui.toml"
    cfg.write_text(TEAM)
    cfg.chmod(0o644)
    team = parse_settings(TEAM, str(cfg))
    base = sandbox_settings()
    settings = dataclasses.replace(
        base, roles=team.roles, people=team.people, readiness=team.readiness, path=str(cfg)
    )
    state = shared_state(shared_dir)
    store = Store(state)
    clock = SteppedClock(datetime.now(UTC))
    sandbox = build_sandbox("happy", 7, clock, settings, Strategy.CANARY)
    c = Conductor(settings, sandbox.ports, store, clock, user="root@jump", autopilot=False)
    await c.start(
        version="1a2b3c4",
        params={
            "flags": ["major-feature"],
            "authors": [ALICE],
            "author_emails": ["alice@example.org"],
        },
    )
    stop = serve_local(str(state), "b2connect", "production", c)
    try:
        await c.run_until(
            lambda v: v.phase is Phase.READINESS and v.checks.get("review_approved") is not None
        )
        py = other_python

        # The author of the deployed commit may not approve its review, though in the role.
        code, ans = await asyncio.to_thread(sign, py, ALICE, cfg, state, "review_approved")
        assert code == 1 and ans["accepted"] is False
        assert ans["user"] == f"{ALICE}@{HOST}"
        assert "you (b2talice) wrote the deployed commits (alice@example.org)" in ans["message"]
        assert f"role reviewer may sign: group:{GROUP}" in ans["message"]
        # Outside the role: refused, with who may.
        code, ans = await asyncio.to_thread(sign, py, CAROL, cfg, state, "review_approved")
        assert code == 1 and ans["message"] == (
            f"Code review approved: role reviewer may sign: group:{GROUP}; you ({CAROL}) are"
            " not in it"
        )
        # $USER and $B2TUI_USER name nobody: bob signs as bob.
        code, ans = await asyncio.to_thread(
            sign, py, BOB, cfg, state, "review_approved", USER=CAROL, B2TUI_USER=CAROL
        )
        assert code == 0 and ans["accepted"], ans
        assert ans["user"] == f"{BOB}@{HOST}"

        # Two signers: two different people.
        code, ans = await asyncio.to_thread(sign, py, BOB, cfg, state, "oncall_aware")
        assert code == 0 and "(1 of 2)" in ans["message"]
        code, ans = await asyncio.to_thread(sign, py, BOB, cfg, state, "oncall_aware")
        assert code == 1 and "signed it already; it needs 2 different people" in ans["message"]
        code, ans = await asyncio.to_thread(sign, py, CAROL, cfg, state, "oncall_aware")
        assert code == 0 and ans["accepted"]

        # The run flag made the team's extra blocker required; it blocks until signed.
        why = c.why_not(Action.ADVANCE)
        assert why is not None and "Customer notification sent" in why
        # A state file the signer may not read: the driver alone knows the run, and names
        # the signer all the same.
        await asyncio.to_thread(_lock_up, shared_dir)
        code, ans = await asyncio.to_thread(sign, py, CAROL, cfg, state, "customer_notified")
        assert code == 0 and ans["accepted"], ans
        assert ans["user"] == f"{CAROL}@{HOST}"

        checks = c.view.checks
        assert checks["review_approved"].by == f"{BOB}@{HOST}"
        assert checks["oncall_aware"].by == f"{BOB}@{HOST}, {CAROL}@{HOST}"
        audit = [(a.user, a.action, a.accepted) for a in store.audit_log(c.run_id)]
        assert (f"{ALICE}@{HOST}", "sign-off", False) in audit
        assert (f"{CAROL}@{HOST}", "sign-off", False) in audit
        assert (f"{BOB}@{HOST}", "sign-off", True) in audit
        assert not any(CAROL in u and ok and "review" in u for u, _, ok in audit)
        refusals = [a for a in store.audit_log(c.run_id) if not a.accepted]
        assert any("wrote the deployed commits" in a.detail for a in refusals)
    finally:
        stop()
        c.abort("root@jump")
        store.close()


def test_a_user_under_a_setuid_parent_is_named_with_who_started_it(
    unix_people: dict[str, str], other_python: str, shared_dir: Path
) -> None:
    """bob's process whose parent runs set-uid root for alice (as sudo does) is recorded as
    ``bob@host (python3 from alice)``: the kernel's account of alice, not $SUDO_USER."""
    state = shared_state(shared_dir)
    script = (
        f"import subprocess, sys; sys.exit(subprocess.run(['setpriv', '--reuid={BOB}',"
        f" '--regid={BOB}', '--init-groups', '{other_python}', '-m', 'b2tui', 'rollback',"
        f" '--sandbox', '--state', '{state}']).returncode)"
    )
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "b2tui",
            "demo",
            "--headless",
            "--speed",
            "max",
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert demo.returncode == 0, demo.stderr
    for f in shared_dir.glob("state.db*"):
        f.chmod(0o666)
    res = subprocess.run(
        ["setpriv", f"--ruid={ALICE}", "--euid=0", "/usr/bin/python3", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SUDO_USER": CAROL, "USER": CAROL},
    )
    assert res.returncode == 0, res.stderr
    store = Store(state)
    rows = [a for a in store.audit_log() if a.action == "rollback-cli"]
    store.close()
    assert rows[-1].user == f"{BOB}@{HOST} (python3 from {ALICE})"
