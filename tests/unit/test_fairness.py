"""Per-segment router performance on crafted routing results."""

from __future__ import annotations

import pandas as pd
import pytest

from ai_roi.ml import fairness


def _routed(rows):
    return pd.DataFrame(rows, columns=["text", "labelled_intent", "predicted_intent", "route"])


def test_segments_and_the_gap_between_best_and_worst():
    rows = []
    # card_*: 10 short messages, all right, all automatic
    rows += [("where is my card", "card_arrival", "card_arrival", "auto")] * 10
    # top_up_*: 10 long messages, half wrong; the wrong ones went to a person
    long = "I tried to top up my account with my card several times today and it failed"
    rows += [(long, "top_up_failed", "top_up_failed", "auto")] * 5
    rows += [(long, "top_up_failed", "card_arrival", "human")] * 5
    table = fairness.segment_table(_routed(rows), length_bins=(5, 10), min_size=5)
    by = table.set_index(["segmentation", "segment"])
    assert by.loc[("intent_group", "card"), "accuracy"] == 1.0
    assert by.loc[("intent_group", "top"), "accuracy"] == 0.5
    assert by.loc[("intent_group", "top"), "automation_rate"] == 0.5
    assert by.loc[("intent_group", "top"), "auto_precision"] == 1.0
    assert set(table.loc[table["segmentation"] == "message_length", "segment"]) == {
        "1-5 words",
        "over 10 words",
    }
    gaps = fairness.largest_gaps(table)
    assert gaps["intent_group.accuracy"]["gap"] == pytest.approx(0.5)
    assert gaps["intent_group.accuracy"]["worst"].startswith("top")
    assert gaps["intent_group.auto_precision"]["gap"] == 0.0


def test_small_segments_are_not_judged():
    rows = [("hello there", "card_arrival", "card_arrival", "auto")] * 10
    rows += [("hi", "pin_blocked", "card_arrival", "human")] * 2
    table = fairness.segment_table(_routed(rows), length_bins=(5,), min_size=5)
    assert "pin" not in set(table["segment"])
    assert "intent_group.accuracy" not in fairness.largest_gaps(table)  # one segment left


@pytest.mark.parametrize(
    ("words", "band"),
    [(1, "1-5 words"), (5, "1-5 words"), (6, "6-10 words"), (11, "over 10 words")],
)
def test_length_bands(words, band):
    assert fairness.length_band(words, (5, 10)) == band


def test_out_of_scope_recall_per_segment_from_the_unseen_intent_routes():
    rows = [("where is my card", "card_arrival", "card_arrival", "auto")] * 10
    long = "I tried to top up my account with my card several times today and it failed"
    rows += [(long, "top_up_failed", "top_up_failed", "auto")] * 10
    # messages of intents never learnt: short card ones all went to a person, long top-up ones
    # mostly got an automatic answer
    unknown = pd.DataFrame(
        [("card_swallowed", 3, "human")] * 6
        + [("top_up_reverted", 15, "auto")] * 4
        + [("top_up_reverted", 15, "human")] * 2,
        columns=["labelled_intent", "words", "route"],
    )
    table = fairness.segment_table(
        _routed(rows), length_bins=(5, 10), min_size=5, out_of_scope=unknown
    )
    by = table.set_index(["segmentation", "segment"])
    assert by.loc[("intent_group", "card"), "oos_recall"] == 1.0
    assert by.loc[("intent_group", "top"), "oos_recall"] == pytest.approx(2 / 6)
    assert by.loc[("message_length", "over 10 words"), "oos_messages"] == 6
    gaps = fairness.largest_gaps(table)
    assert gaps["intent_group.oos_recall"]["gap"] == pytest.approx(1 - 2 / 6, abs=1e-4)
    assert gaps["intent_group.oos_recall"]["worst"].startswith("top")
    # a segment with too few unknown messages is not judged
    few = fairness.segment_table(_routed(rows), (5, 10), 5, unknown.iloc[:8])
    assert (
        few.set_index(["segmentation", "segment"])["oos_recall"].isna().loc[("intent_group", "top")]
    )
