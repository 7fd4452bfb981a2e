"""``make mutants``: break each promise on purpose in a copy of the repo and show that the
tests guarding it fail.

Each :class:`Mutant` replaces one exact piece of b2tui's code (it must occur exactly once:
a mutant whose code moved is reported as stale, not as caught) with a deliberate break of
one of the promises (tests/README.md, "What guards the promises"). For each, the
tracked files are copied to a temporary directory, the break applied there, and the
guarding tests run there with ``pytest -x``. A mutant is *caught* when those tests fail;
one that *survives* (the tests pass with the break in) means the promise is unguarded.
First the same tests run on the unbroken copy and must pass, so a failure is the break's.

Usage: ``python tests/mutants/run.py [--list] [NAME ...]`` (``make mutants``; ``make
mutants ARGS=--list``). Exit 0 when every mutant is caught, 1 when one survives or is
stale, 2 when the unbroken copy already fails. Not part of ``make test``: it runs the
guards once per mutant (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    name: str
    promise: str
    path: str
    """File of b2tui, relative to the repo."""
    old: str
    new: str
    guards: tuple[str, ...]
    """pytest node ids or files (relative to the repo) that must fail with the break."""
    what: str


UNKNOWN = "unknown never promotes"
ONE_DRIVER = "one driver"
ROLLBACK = "idempotent rollback to the known-good target"
SECRETS = "nothing secret on any output"
RESUME = "resume keeps deadlines"
PEOPLE = "every sign-off under a name the OS or the API server vouches for"
ARTIFACT = "production runs the digest staging verified"

MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "overall-ignores-unknown",
        UNKNOWN,
        "b2tui/domain/gates.py",
        "    if GateStatus.UNKNOWN in statuses or not results:\n",
        "    if not results:\n",
        (
            "tests/unit/test_domain.py::test_the_overall_verdict_of_passes_and_one_unknown_is_unknown",
            "tests/engine/test_conductor.py",
        ),
        "a sample with one gate unknown and the rest green counts as green",
    ),
    Mutant(
        "nan-is-a-value",
        UNKNOWN,
        "b2tui/domain/gates.py",
        "    if v is None or math.isnan(v) or math.isinf(v):\n",
        "    if v is None:\n",
        ("tests/unit/test_domain.py::test_unknown_is_never_pass",),
        "NaN and infinite readings are judged as numbers, not unknown",
    ),
    Mutant(
        "policy-promotes-on-unknown",
        UNKNOWN,
        "b2tui/engine/policy.py",
        "    if tracker.last is GateStatus.PASS:\n",
        "    if tracker.last in (GateStatus.PASS, GateStatus.UNKNOWN):\n",
        ("tests/unit/test_policy.py", "tests/engine/test_conductor.py"),
        "the policy promotes after an unknown sample",
    ),
    Mutant(
        "lease-ignores-holder",
        ONE_DRIVER,
        "b2tui/adapters/store/sqlite/lease.py",
        "            if holder is not None and held_by_another(holder, now):\n",
        "            if holder is not None and False:\n",
        (
            "tests/unit/test_store.py::test_lease_is_exclusive_until_it_expires_or_its_process_dies",
            "tests/integration/test_races.py::test_200_simultaneous_pairs_never_make_two_drivers",
        ),
        "the state file's lease is taken over a live driver",
    ),
    Mutant(
        "live-driver-counts-as-gone",
        ONE_DRIVER,
        "b2tui/adapters/store/common.py",
        "    return not (lease.host == socket.gethostname() and not _pid_alive(lease.pid))\n",
        "    return not (lease.host == socket.gethostname())\n",
        ("tests/unit/test_store.py::test_lease_is_exclusive_until_it_expires_or_its_process_dies",),
        "a lease held by a live process on this host counts as free",
    ),
    Mutant(
        "kube-rollback-always-writes",
        ROLLBACK,
        "b2tui/adapters/kube/revisions.py",
        "    if not o.same_template(o.template(deploy), want_tmpl):\n",
        "    if True:\n",
        ("tests/realkube/test_kube_adapter.py::test_rollback_twice_stays_on_known_good",),
        "a second rollback on the real cluster writes again instead of saying 'already on'",
    ),
    Mutant(
        "known-good-of-staging",
        ROLLBACK,
        "b2tui/engine/opening.py",
        "current_revision(self.target)\n",
        "current_revision(Target.of(self.staging_env))\n",
        ("tests/engine/test_conductor.py", "tests/unit/test_known_good.py"),
        "the rollback target is read from staging instead of the run's environment",
    ),
    Mutant(
        "inflight-change-not-undone",
        ROLLBACK,
        "b2tui/engine/rollback.py",
        "            while ctx.inflight:\n",
        "            while False:\n",
        (
            "tests/engine/test_conductor.py"
            "::test_a_traffic_change_in_flight_when_the_rollback_began_is_rolled_back_too",
        ),
        "a traffic change in flight when the rollback began is not rolled back again",
    ),
    Mutant(
        "conductor-does-not-mask",
        SECRETS,
        "b2tui/engine/journal.py",
        "        event = mask_data(event)\n",
        "",
        ("tests/ui/test_screen_leaks.py",),
        "events reach the screen, store and printers unmasked",
    ),
    Mutant(
        "percent-encoding-not-masked",
        SECRETS,
        "b2tui/masking.py",
        '        urllib.parse.quote(value, safe=""),\n'
        "        urllib.parse.quote(value),\n"
        "        urllib.parse.quote_plus(value),\n",
        "        urllib.parse.quote(value),\n",
        ("tests/unit/test_masking.py", "tests/ui/test_screen_leaks.py"),
        "a registered secret percent-encoded with its / as %2F is not masked",
    ),
    Mutant(
        "base64-runs-not-decoded",
        SECRETS,
        "b2tui/masking.py",
        "            text = _B64_RUN.sub(self._b64_run, text)\n",
        "",
        ("tests/unit/test_masking.py",),
        "a secret inside a longer base64 run (Basic user:password) is not masked",
    ),
    Mutant(
        "resume-drops-the-hold",
        RESUME,
        "b2tui/engine/opening.py",
        "            self.journal.state = RunState.from_dict(rec.state)\n",
        '            self.journal.state = RunState.from_dict({**rec.state, "hold_until": None})\n',
        ("tests/engine/test_conductor.py::test_killed_run_resumes_with_its_original_hold",),
        "a resumed run forgets when its canary hold ends",
    ),
    Mutant(
        "local-sender-is-the-driver",
        PEOPLE,
        "b2tui/adapters/local_inbox.py",
        "                person = person_of_uid(uid, via=invoked_by(uid, pid))\n",
        "                person = person_of_uid(os.getuid(), via=None)\n",
        ("tests/integration/test_os_people.py::test_real_accounts_sign_by_role_and_four_eyes",),
        "a sign-off through the local socket is judged as the driver's account, not the"
        " sender's the kernel names",
    ),
    Mutant(
        "claimed-name-vouched",
        PEOPLE,
        "b2tui/engine/operator.py",
        "        if self._untrusted:\n",
        "        if False:\n",
        ("tests/engine/test_people_engine.py::test_a_claimed_name_is_never_a_vouched_person",),
        "a name written into the cluster's main inbox is taken for the local person of that name",
    ),
    Mutant(
        "inbox-sender-holds-every-role",
        PEOPLE,
        "b2tui/domain/people.py",
        "            return role == person.inbox_role\n",
        "            return True\n",
        (
            "tests/unit/test_sign_inboxes.py"
            "::test_a_sender_of_a_roles_inbox_holds_that_role_and_no_other",
            "tests/realkube/test_signoff_inboxes.py",
        ),
        "whoever may write one role's sign-off inbox signs every role's items",
    ),
    Mutant(
        "audit-edit-unnoticed",
        PEOPLE,
        "b2tui/adapters/store/chain.py",
        "        if want != e.hash:\n",
        "        if False:\n",
        (
            "tests/integration/test_audit_chain.py"
            "::test_audit_verify_names_the_entry_edited_after_the_fact",
        ),
        "an audit entry edited after the fact (another name, another action) passes --verify",
    ),
    Mutant(
        "production-by-tag",
        ARTIFACT,
        "b2tui/engine/context.py",
        "        return artifact.pinned(self.image(env_name))"
        " if artifact else self.image(env_name)\n",
        "        return self.image(env_name)\n",
        (
            "tests/engine/test_artifact.py"
            "::test_production_runs_the_digest_staging_verified_and_builds_once",
        ),
        "production is deployed by its tag, not pinned to the digest staging verified",
    ),
    Mutant(
        "moved-tag-promoted",
        ARTIFACT,
        "b2tui/engine/artifacts.py",
        "        if now_digest != artifact.digest:\n",
        "        if False:\n",
        (
            "tests/engine/test_artifact.py"
            "::test_a_tag_that_moved_after_staging_is_refused_with_both_digests",
        ),
        "a tag pushed again after staging is promoted: production gets what staging never ran",
    ),
    Mutant(
        "failed-smoke-check-passes",
        ARTIFACT,
        "b2tui/engine/strategies/smoke.py",
        "        if not answer.passed:\n",
        "        if False:\n",
        (
            "tests/engine/test_canary_preview.py"
            "::test_a_failing_canary_check_aborts_before_any_weight",
            "tests/engine/test_preview.py",
        ),
        "a failing smoke check on the canary or the idle colour lets it take traffic",
    ),
)


def _copy(dest: Path) -> None:
    """The repo's tracked (and new, not ignored) files, as they are in the work tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the work tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def _pytest(copy: Path, guards: tuple[str, ...], log: Path) -> int:
    # The copy's b2tui first on the path (the venv's editable install points at ROOT),
    # for pytest and for every b2tui the tests start as a subprocess.
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)  # a service missing here is a skip, reported as such below
    with log.open("w") as out:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *guards],
            cwd=copy,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode


def _tail(log: Path, lines: int = 12) -> str:
    return "\n".join("    " + x for x in log.read_text(errors="replace").splitlines()[-lines:])


def _first_failure(log: Path) -> str:
    """The failing test and its first error line: what caught the mutant."""
    lines = log.read_text(errors="replace").splitlines()
    failed = next((x for x in lines if x.startswith("FAILED ")), "")
    error = next((x for x in lines if x.startswith("E ")), "")
    return "\n".join("    " + x.strip()[:160] for x in (failed, error) if x)


def _run(mutant: Mutant | None, guards: tuple[str, ...], work: Path) -> tuple[str, Path]:
    """``caught``, ``survived``, ``stale`` or ``error`` (``passed``/``failed`` unbroken)."""
    name = mutant.name if mutant else "unbroken"
    copy = work / name
    log = work / f"{name}.log"
    _copy(copy)
    if mutant is not None:
        target = copy / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            log.write_text(f"{mutant.path}: the code to break occurs {text.count(mutant.old)}x\n")
            return "stale", log
        target.write_text(text.replace(mutant.old, mutant.new))
    code = _pytest(copy, guards, log)
    shutil.rmtree(copy, ignore_errors=True)
    if mutant is None:
        return ("passed" if code == 0 else "failed"), log
    lines = log.read_text(errors="replace").splitlines()
    skipped = bool(lines) and " skipped" in lines[-1]  # a guard that did not run proves nothing
    if code == 0:
        return ("error" if skipped else "survived"), log
    return ("caught" if code == 1 else "error"), log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"mutants: no mutant named {', '.join(sorted(unknown))} (see --list)")
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.name:34} {m.promise}: {m.what}\n{'':34} guards: {', '.join(m.guards)}")
        return 0
    guards = tuple(dict.fromkeys(g for m in chosen for g in m.guards))
    with tempfile.TemporaryDirectory(prefix="b2tui-mutants-") as tmp:
        work = Path(tmp)
        start = time.monotonic()
        status, log = _run(None, guards, work)
        print(f"unbroken copy: guards {status} ({time.monotonic() - start:.0f}s)", flush=True)
        if status != "passed":
            print(_tail(log))
            return 2
        results: dict[str, str] = {}
        for m in chosen:
            start = time.monotonic()
            status, log = _run(m, m.guards, work)
            results[m.name] = status
            took = time.monotonic() - start
            print(f"{status:8} {m.name} ({m.promise}: {m.what}) [{took:.0f}s]", flush=True)
            if status != "caught":
                print(_tail(log))
            else:
                print(_first_failure(log))
    bad = [n for n, s in results.items() if s != "caught"]
    print(f"mutants: {len(results) - len(bad)} of {len(results)} caught", end="")
    print(f"; not caught: {', '.join(bad)}" if bad else "")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
