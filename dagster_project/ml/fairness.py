"""Per-segment performance of the router: does it serve every kind of request equally well?

Segments: the intent's group (the first word of the label: `card_arrival` -> `card`) and the
message's length in words. For each segment with enough messages: accuracy, the share answered
automatically, and the precision of those automatic answers. The gap is the spread between the
best and the worst segment of a segmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("accuracy", "automation_rate", "auto_precision")


def intent_group(label: str) -> str:
    return str(label).split("_", 1)[0]


def length_band(words: int, bins: tuple[int, ...]) -> str:
    edges = [0, *bins]
    for low, high in zip(edges, edges[1:], strict=False):
        if words <= high:
            return f"{low + 1}-{high} words"
    return f"over {bins[-1]} words"


def segment_table(
    routed: pd.DataFrame, length_bins: tuple[int, ...], min_size: int
) -> pd.DataFrame:
    """One row per (segmentation, segment) with at least `min_size` messages."""
    frame = routed.assign(
        correct=routed["predicted_intent"] == routed["labelled_intent"],
        auto=routed["route"] == "auto",
        intent_group=routed["labelled_intent"].map(intent_group),
        message_length=routed["text"]
        .str.split()
        .str.len()
        .map(lambda n: length_band(n, length_bins)),
    )
    rows = []
    for segmentation in ("intent_group", "message_length"):
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
    return pd.DataFrame(rows)


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
