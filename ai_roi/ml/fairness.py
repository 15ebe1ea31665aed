"""Per-segment performance of the router: does it serve every kind of request equally well?

Segments: the intent's group (the first word of the label: `card_arrival` -> `card`) and the
message's length in words. For each segment with enough messages: accuracy, the share answered
automatically, and the precision of those automatic answers; and, from the unseen-intent
evaluation, the share of messages of intents never learnt that went to a person (out-of-scope
recall). The gap is the spread between the best and the worst segment of a segmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("accuracy", "automation_rate", "auto_precision", "oos_recall")
SEGMENTATIONS = ("intent_group", "message_length")


def intent_group(label: str) -> str:
    return str(label).split("_", 1)[0]


def length_band(words: int, bins: tuple[int, ...]) -> str:
    edges = [0, *bins]
    for low, high in zip(edges, edges[1:], strict=False):
        if words <= high:
            return f"{low + 1}-{high} words"
    return f"over {bins[-1]} words"


def _segments(frame: pd.DataFrame, words: pd.Series, length_bins: tuple[int, ...]):
    return frame.assign(
        auto=frame["route"] == "auto",
        intent_group=frame["labelled_intent"].map(intent_group),
        message_length=words.map(lambda n: length_band(n, length_bins)),
    )


def segment_table(
    routed: pd.DataFrame,
    length_bins: tuple[int, ...],
    min_size: int,
    out_of_scope: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (segmentation, segment) with at least `min_size` messages.

    `out_of_scope`: routes of messages of intents the router never learnt (labelled_intent,
    words, route), for the out-of-scope recall of each segment.
    """
    frame = _segments(routed, routed["text"].str.split().str.len(), length_bins)
    frame["correct"] = frame["predicted_intent"] == frame["labelled_intent"]
    rows = []
    for segmentation in SEGMENTATIONS:
        for segment, part in frame.groupby(segmentation):
            if len(part) < min_size:
                continue
            auto = part[part["auto"]]
            rows.append(
                {
                    "segmentation": segmentation,
                    "segment": segment,
                    "messages": len(part),
                    "accuracy": part["correct"].mean(),
                    "automation_rate": part["auto"].mean(),
                    "auto_precision": auto["correct"].mean() if len(auto) else np.nan,
                }
            )
    table = pd.DataFrame(rows, columns=["segmentation", "segment", "messages", *METRICS[:3]])
    if out_of_scope is None or out_of_scope.empty:
        return table.assign(oos_recall=np.nan, oos_messages=0)
    unknown = _segments(out_of_scope, out_of_scope["words"], length_bins)
    recall = [
        {
            "segmentation": segmentation,
            "segment": segment,
            "oos_messages": len(part),
            "oos_recall": float((~part["auto"]).mean()) if len(part) >= min_size else np.nan,
        }
        for segmentation in SEGMENTATIONS
        for segment, part in unknown.groupby(segmentation)
    ]
    table = table.merge(pd.DataFrame(recall), on=["segmentation", "segment"], how="outer")
    table["messages"] = table["messages"].fillna(0).astype(int)
    table["oos_messages"] = table["oos_messages"].fillna(0).astype(int)
    return table.sort_values(["segmentation", "segment"]).reset_index(drop=True)


def largest_gaps(table: pd.DataFrame) -> dict[str, dict]:
    """Per segmentation and metric: the spread between best and worst segment, and which they are."""
    gaps = {}
    for (segmentation, metric), values in (
        table.melt(["segmentation", "segment"], list(METRICS), "metric")
        .dropna(subset=["value"])
        .groupby(["segmentation", "metric"])
    ):
        if len(values) < 2:
            continue
        best, worst = values.loc[values["value"].idxmax()], values.loc[values["value"].idxmin()]
        gaps[f"{segmentation}.{metric}"] = {
            "gap": round(float(best["value"] - worst["value"]), 4),
            "best": f"{best['segment']} {best['value']:.3f}",
            "worst": f"{worst['segment']} {worst['value']:.3f}",
        }
    return gaps
