"""Drift of the models' inputs between the training window and new data (warnings)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.features.assets import (
    DEMAND_EXTRACT,
    DEMAND_HISTORY_KEY,
    ROUTER_DATASET_KEY,
    ROUTER_EXTRACT,
)
from dagster_project.defs.resources import OutputsResource, ParamsResource
from dagster_project.lib import monitors
from dagster_project.lib.checks import finding_result
from dagster_project.lib.history import recorded


@dg.asset_check(
    asset=ROUTER_DATASET_KEY,
    name="router_inputs_drift",
    metadata={"dimension": "consistency"},
    description="Messages to route (test split) vs training messages: PSI of text length and "
    "intent mix, share of unseen words.",
)
def router_inputs_drift(
    context: dg.AssetCheckExecutionContext,
    duckdb: DuckDBResource,
    params: ParamsResource,
    outputs: OutputsResource,
) -> dg.AssetCheckResult:
    path = str(outputs.path(*ROUTER_EXTRACT))
    with duckdb.get_connection() as con:
        finding = monitors.router_drift(con, path, params.load().quality.drift)
    result = finding_result(
        finding, ROUTER_DATASET_KEY, "router_inputs_drift", "consistency", ["text", "label"]
    )
    return recorded(context, duckdb, [result], kind="monitor")[0]


@dg.asset_check(
    asset=DEMAND_HISTORY_KEY,
    name="demand_inputs_drift",
    metadata={"dimension": "consistency"},
    description="The most recent weeks of demand vs the weeks before: PSI of weekly units and "
    "product mix, change in the share of zero weeks.",
)
def demand_inputs_drift(
    context: dg.AssetCheckExecutionContext,
    duckdb: DuckDBResource,
    params: ParamsResource,
    outputs: OutputsResource,
) -> dg.AssetCheckResult:
    path = str(outputs.path(*DEMAND_EXTRACT))
    with duckdb.get_connection() as con:
        finding = monitors.demand_drift(con, path, params.load().quality.drift)
    result = finding_result(
        finding, DEMAND_HISTORY_KEY, "demand_inputs_drift", "consistency", ["units", "stock_code"]
    )
    return recorded(context, duckdb, [result], kind="monitor")[0]
