"""Typed checkpoints keep the stored format: runs recorded before them resume unchanged."""

from __future__ import annotations

from b2tui.engine.state import RunState, Step

TAG = "registry.example.com/b2connect:staging-1a2b3c4"


def test_a_state_stored_with_string_markers_resumes_at_the_same_steps() -> None:
    stored = {
        "run_id": "r1",
        "service": "b2connect",
        "environment": "production",
        "staging": "staging",
        "strategy": "canary",
        "version": "1a2b3c4",
        "image_repo": "registry.example.com/b2connect",
        "phase": "production",
        "done": [f"build:{TAG}", f"push:{TAG}", "canary", "rollout:5"],
    }
    st = RunState.from_dict(stored)
    assert st.did(Step.BUILD, TAG) and st.did(Step.PUSH, TAG)
    assert st.did(Step.CANARY) and st.did(Step.ROLLOUT, 5)
    assert not st.did(Step.ROLLOUT, 50)
    assert not st.did(Step.BUILD)  # the validate command is another checkpoint
    assert st.to_dict()["done"] == stored["done"]


def test_checkpoints_are_written_as_before() -> None:
    assert Step.ROLLOUT.at(50) == "rollout:50"
    assert Step.BUILD.at(TAG) == f"build:{TAG}"
    assert Step.GO_PRODUCTION.at() == "go-production"
    assert Step.SMOKE_COMMAND.at() == "smoke_cmd"
