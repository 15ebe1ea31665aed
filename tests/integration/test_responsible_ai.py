"""The router's per-segment check and the human queue, on the pipeline built from fixtures."""

from __future__ import annotations

from tests.conftest import check_evaluations, materialization_metadata, run_pipeline

ROUTED = 'key:"ml/routed_messages" or key:"ml/human_queue"'


def test_segment_gap_warns_only_past_its_threshold(built):
    wh, _ = built
    try:
        wh.write_params(router={"fairness": {"max_gap": 0.001, "min_segment_size": 3}})
        strict = check_evaluations(run_pipeline(ROUTED))["router_segment_gap"]
        wh.write_params(router={"fairness": {"max_gap": 1.0, "min_segment_size": 3}})
        loose = check_evaluations(run_pipeline(ROUTED))["router_segment_gap"]
    finally:
        wh.write_params()
    assert not strict.passed and strict.severity.value == "WARN"
    assert loose.passed
    gaps = strict.metadata["gaps"].value
    assert strict.metadata["largest_gap"].value == max(g["gap"] for g in gaps.values()) > 0.001
    assert any(k.startswith("intent_group.") for k in gaps)
    assert any(k.startswith("message_length.") for k in gaps)


def test_human_queue_holds_every_message_sent_to_a_person(built):
    wh, result = built
    queue = wh.query(
        "select queue_position, message_id, confidence, suggestion_because, status"
        " from ml.human_queue order by queue_position"
    )
    human = wh.scalar("select count(*) from ml.routed_messages where route = 'human'")
    assert len(queue) == human > 0
    assert materialization_metadata(result, "ml/human_queue")["dagster/row_count"] == human
    confidences = [c for _, _, c, _, _ in queue]
    assert confidences == sorted(confidences)  # least confident first
    assert all(why is not None for _, _, _, why, _ in queue) and {s for *_, s in queue} == {"open"}
    # every automatic answer keeps its explanation too
    assert (
        wh.scalar(
            "select count(*) from ml.routed_messages where route = 'auto' and"
            " (explanation is null or explanation = '')"
        )
        == 0
    )
