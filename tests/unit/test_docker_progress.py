"""PushProgress: per-layer push progress, compact enough for an SSH session."""

from __future__ import annotations

from typing import Any

from b2tui.adapters.docker import PushProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pushing(layer: str, current: int, total: int = 1000) -> dict[str, Any]:
    return {
        "status": "Pushing",
        "id": layer,
        "progressDetail": {"current": current, "total": total},
        "progress": f"[=====>       ]  {current}B/{total}B",
    }


def test_status_changes_always_pass_and_the_bar_is_dropped() -> None:
    progress = PushProgress(FakeClock())
    assert progress.line({"status": "The push refers to repository [r/x]"}) == (
        "The push refers to repository [r/x]"
    )
    assert progress.line({"status": "Preparing", "id": "aaa", "progressDetail": {}}) == (
        "aaa: Preparing"
    )
    assert progress.line(pushing("aaa", 10)) == "aaa: Pushing 10B/1000B"
    assert progress.line({"status": "Pushed", "id": "aaa", "progressDetail": {}}) == "aaa: Pushed"
    assert progress.line({"progressDetail": {}, "aux": {"Digest": "sha256:0"}}) is None


def test_a_big_layer_reports_every_ten_percent_or_half_second() -> None:
    clock = FakeClock()
    progress = PushProgress(clock)
    shown = [progress.line(pushing("big", c)) for c in range(0, 1001, 10)]  # no time passes
    kept = [s for s in shown if s]
    assert kept[0] == "big: Pushing 0B/1000B"
    assert len(kept) == 11, kept  # 0 %, 10 %, … 100 %

    assert progress.line(pushing("big", 1000)) is None  # nothing new, no time passed
    clock.now += 0.6
    assert progress.line(pushing("big", 1000)) == "big: Pushing 1000B/1000B"


def test_layers_are_limited_independently() -> None:
    progress = PushProgress(FakeClock())
    assert progress.line(pushing("a", 1)) is not None
    assert progress.line(pushing("b", 1)) is not None
    assert progress.line(pushing("a", 2)) is None
    assert progress.line(pushing("b", 2)) is None


def test_current_beyond_total_is_capped_not_flooding() -> None:
    # The daemon compares compressed bytes sent with the uncompressed size.
    progress = PushProgress(FakeClock())
    assert progress.line(pushing("c", 512, total=6)) is not None
    assert progress.line(pushing("c", 2048, total=6)) is None
