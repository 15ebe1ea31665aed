"""Scenarios of the ROI model: the base case, one-at-a-time sensitivity and Monte Carlo draws.

The ROI arithmetic lives once, in dbt (`int_roi__cashflow`, `int_roi__scenario_summary`). This
module only writes the assumptions each scenario uses, one row per scenario, so dbt computes the
base case, the tornado and the uncertainty bands with the same SQL.
"""

from __future__ import annotations

import annotated_types
import numpy as np
import pandas as pd

from ai_roi.params import (
    AiCosts,
    DataQualityAssumptions,
    InventoryAssumptions,
    RoiParams,
    SupportAssumptions,
)

# Measured rates the sensitivity also swings, as factors on what the pipeline measured.
MEASURED_FACTORS = {
    "tickets_per_month": "volume_factor",
    "automation_rate": "automation_factor",
}
# Assumptions not swung on their own: the budget is a FinOps limit, checked on its own; the share
# of traffic in scope acts through the automation rate, which the sensitivity swings.
NOT_IN_ROI = {"monthly_api_budget", "in_scope_share"}


def _upper_bounds() -> dict[str, float]:
    """Largest value each assumption may take (shares stop at 1), from the params schema."""
    bounds = {}
    for group in (SupportAssumptions, AiCosts, InventoryAssumptions, DataQualityAssumptions):
        for name, field in group.model_fields.items():
            for rule in field.metadata:
                if isinstance(rule, annotated_types.Le):
                    bounds[name] = float(rule.le)
    return bounds


def roi_assumptions(roi: RoiParams) -> dict[str, float]:
    return {k: v for k, v in roi.assumptions().items() if k not in NOT_IN_ROI}


def build(roi: RoiParams, seed: int) -> pd.DataFrame:
    """One row per scenario: `base`, two per swung assumption, then `draws` Monte Carlo rows."""
    base = roi.assumptions()
    fixed = {
        "pilot_weeks": roi.pilot_weeks,
        "sensitivity": roi.sensitivity,
        "tickets_per_month": (
            None if roi.support.tickets_per_month == "measured" else roi.support.tickets_per_month
        ),
        "horizon_months": roi.horizon_months,
        "in_scope_share": (
            None if roi.support.in_scope_share == "measured" else roi.support.in_scope_share
        ),
    }
    neutral = {factor: 1.0 for factor in MEASURED_FACTORS.values()}
    bounds = _upper_bounds()
    rows = [{"scenario_id": "base", "scenario_kind": "base", **base, **neutral}]

    swing = roi.sensitivity
    for name in [*roi_assumptions(roi), *MEASURED_FACTORS]:
        for direction, factor in (("low", 1 - swing), ("high", 1 + swing)):
            row = {**base, **neutral}
            column = MEASURED_FACTORS.get(name, name)
            row[column] = min(row[column] * factor, bounds.get(name, np.inf))
            rows.append(
                {
                    "scenario_id": f"sensitivity:{name}:{direction}",
                    "scenario_kind": "sensitivity",
                    "varied": name,
                    "direction": direction,
                    **row,
                }
            )

    rng = np.random.default_rng(seed)
    draws = roi.monte_carlo.draws
    sampled = {}
    for name in sorted(roi.monte_carlo.ranges):
        low, high = roi.monte_carlo.ranges[name]
        mode = base[name]
        values = (
            np.full(draws, mode)
            if low == high or mode == 0
            else rng.triangular(low * mode, mode, high * mode, size=draws)
        )
        sampled[name] = np.minimum(values, bounds.get(name, np.inf))
    for i in range(draws):
        row = {**base, **neutral, **{name: float(values[i]) for name, values in sampled.items()}}
        rows.append(
            {"scenario_id": f"mc:{i:05d}", "scenario_kind": "monte_carlo", "draw": i, **row}
        )

    frame = pd.DataFrame(rows)
    for name, value in fixed.items():
        frame[name] = value
    frame["tickets_per_month"] = frame["tickets_per_month"].astype("float64")
    frame["in_scope_share"] = frame["in_scope_share"].astype("float64")
    frame["draw"] = frame["draw"].astype("Int64")
    frame["seed"] = seed
    frame["currency"] = roi.currency
    return frame[
        ["scenario_id", "scenario_kind", "varied", "direction", "draw"]
        + [
            c
            for c in frame.columns
            if c not in {"scenario_id", "scenario_kind", "varied", "direction", "draw"}
        ]
    ]


def finops_status(projected: float, budget: float) -> tuple[str, float]:
    """`ok`, `warn` (80 % of the budget or more) or `over` (100 % or more), and the share used."""
    share = projected / budget
    return ("over" if share >= 1 else "warn" if share >= 0.8 else "ok"), share
