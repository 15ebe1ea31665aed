"""Drift of the models' inputs between the training window and new data (warnings)."""

from ai_roi.defs.features.assets import (
    DEMAND_EXTRACT,
    DEMAND_HISTORY_KEY,
    ROUTER_DATASET_KEY,
    ROUTER_EXTRACT,
)
from ai_roi.lib.checks import Monitor, build_monitors
from ai_roi.ml.drift import demand_drift, router_drift

router_inputs_drift = build_monitors(
    asset_key=ROUTER_DATASET_KEY,
    name="router_inputs_drift",
    monitors=[
        Monitor(
            "router_inputs_drift",
            "consistency",
            "Messages to route (test split) vs training messages: PSI of text length and intent "
            "mix, share of unseen words.",
            lambda i: router_drift(str(i.outputs.path(*ROUTER_EXTRACT)), i.params.quality.drift),
            columns=lambda _i: ["text", "label"],
        )
    ],
)

demand_inputs_drift = build_monitors(
    asset_key=DEMAND_HISTORY_KEY,
    name="demand_inputs_drift",
    monitors=[
        Monitor(
            "demand_inputs_drift",
            "consistency",
            "The most recent weeks of demand vs the weeks before: PSI of weekly units and product "
            "mix, change in the share of zero weeks.",
            lambda i: demand_drift(str(i.outputs.path(*DEMAND_EXTRACT)), i.params.quality.drift),
            columns=lambda _i: ["units", "stock_code"],
        )
    ],
)
