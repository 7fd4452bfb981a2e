"""`b2tui status --line`'s fast path reads what the full readers read: the run ConfigMap
as :func:`run_record` reads it, the config as :func:`load_settings` reads it (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.kube_store import store_place
from b2tui.adapters.kube_store.objects import run_configmap, run_record, run_summary
from b2tui.commands.status_line import status_line
from b2tui.config import load_settings
from b2tui.config.convert import SECTION_KEYS
from b2tui.ports import RunRecord
from b2tui.quickstatus import LEAN_KEYS, SUMMARY, lean_settings

EXAMPLE = Path(__file__).parents[2] / "b2tui" / "example.toml"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def finished(obj: dict[str, Any], outcome: str, reason: str, at: datetime) -> dict[str, Any]:
    """``obj`` after the kube store's ``finish`` (b2tui/adapters/kube_store/runs.py)."""
    record = json.loads(obj["data"]["record"])
    record.update(outcome=outcome, reason=reason, finished_at=at.isoformat())
    return {**obj, "data": {**obj["data"], "record": json.dumps(record)}}


def records() -> list[dict[str, Any]]:
    rec = RunRecord(
        id="shop-20261206-1",
        service="shop",
        environment="production",
        strategy="canary",
        version="1a2b3c4",
        image="reg/shop:production-1a2b3c4",
        emergency=False,
        params={},
        state={
            "phase": "production",
            "canary_percent": 25,
            "hold_until": (NOW + timedelta(minutes=3)).isoformat(),
            "trackers": {"canary": {"last": "fail", "consecutive_failures": 2}},
        },
        clock=None,
        started_at=NOW - timedelta(minutes=20),
        commit_at=None,
        finished_at=None,
        outcome=None,
        reason=None,
        created_by="dave",
    )
    live = run_configmap(rec)
    blue = run_configmap(replace(rec, id="shop-2", strategy="bluegreen", state={}))
    return [
        live,
        blue,
        finished(blue, "rolled_back", "error_rate 5.02% > 0.10%", NOW - timedelta(minutes=12)),
        finished(live, "succeeded", "", NOW - timedelta(minutes=1)),
    ]


@pytest.mark.parametrize("obj", records())
def test_the_summary_is_the_record_and_gives_the_same_line(obj: dict[str, Any]) -> None:
    summary, rec = run_summary(obj), run_record(obj)
    assert summary == {k: getattr(rec, k) for k in SUMMARY}
    assert status_line(
        service=summary["service"],
        state={"strategy": summary["strategy"], **summary["state"]},
        outcome=summary["outcome"],
        reason=summary["reason"],
        finished_at=summary["finished_at"],
        now=NOW,
    ) == status_line(
        service=rec.service,
        state={"strategy": rec.strategy, **rec.state},
        outcome=rec.outcome,
        reason=rec.reason,
        finished_at=rec.finished_at,
        now=NOW,
    )


def test_the_lean_reader_knows_the_keys_the_full_reader_allows() -> None:
    for table, keys in LEAN_KEYS.items():
        assert keys == set(SECTION_KEYS[table]), table


@pytest.mark.parametrize(
    "store, env",
    [
        ('backend = "sqlite"', "production"),
        ('backend = "kube"', "production"),
        ('backend = "kube"', "staging"),
        ('backend = "kube"\nnamespace = "b2tui"\ncontext = "admin"', "staging"),
        ('namespace = ""', "production"),
    ],
)
def test_the_lean_reader_reads_what_load_settings_reads(
    tmp_path: Path, store: str, env: str
) -> None:
    cfg = tmp_path / "b2tui.toml"
    text = EXAMPLE.read_text()
    assert '[store]\nbackend = "sqlite"' in text
    cfg.write_text(text.replace('[store]\nbackend = "sqlite"', f"[store]\n{store}"))
    full = load_settings(cfg)
    lean = lean_settings(str(cfg), env)
    assert lean is not None
    assert (lean.service, lean.backend) == (full.service.name, full.store.backend)
    assert (lean.context, lean.namespace) == store_place(full, env)


@pytest.mark.parametrize(
    "text",
    [
        '[service]\nname = "shop"\n[environments.production\n',  # not TOML
        '[service]\nname = "shop"\n',  # no environment
        '[service]\nname = "shop"\n[environments.staging]\n',  # not this environment
        "[service]\nname = 3\n[environments.production]\n",
        '[service]\nnmae = "shop"\n[environments.production]\n',
        "[service]\nimage = 3\n[environments.production]\n",
        '[service]\nprebuilt = "yes"\n[environments.production]\n',
        '[store]\nbackend = "etcd"\n[environments.production]\n',
        '[store]\nbackend = "kube"\nnamespce = "b2tui"\n[environments.production]\n',
        '[store]\nbackend = "kube"\n[environments.production]\nnamespace = ["p"]\n',
        '[store]\nbackend = "kube"\n[environments.production]\ncontext = 1\n',
        'service = "shop"\n[environments.production]\n',
        "environments = 1\n",
    ],
)
def test_the_lean_reader_leaves_what_it_is_unsure_of_to_the_full_reader(
    tmp_path: Path, text: str
) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(text)
    assert lean_settings(str(cfg), "production") is None
    assert lean_settings(str(tmp_path / "missing.toml"), "production") is None
