"""The router's promotion gate: a blocking check in front of the champion alias."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import MlflowResource, ParamsResource
from dagster_project.defs.router.assets import EVALUATION_KEY, NAME
from dagster_project.lib.ml_assets import latest_metadata, promotion_gate

HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "auto_precision": True,
    "automation_rate": True,
}


@dg.asset_check(
    asset=EVALUATION_KEY,
    blocking=True,
    metadata={"dimension": "accuracy"},
    name="router_clears_promotion_gate",
)
def router_clears_promotion_gate(
    context: dg.AssetCheckExecutionContext,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    duckdb: DuckDBResource,
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the bars in params.yaml are met, and the champion is not beaten."""
    gate = params.load().router.gate
    candidate = latest_metadata(context, EVALUATION_KEY)
    return promotion_gate(
        context,
        duckdb,
        mlflow_store,
        model_name=NAME,
        asset_key=EVALUATION_KEY,
        candidate_version=candidate["model_version"],
        observed={k: candidate[k] for k in HIGHER_IS_BETTER},
        minimums={
            "accuracy": gate.min_accuracy,
            "macro_f1": gate.min_macro_f1,
            "auto_precision": gate.min_auto_precision,
            "automation_rate": gate.min_automation_rate,
        },
        maximums={},
        higher_is_better=HIGHER_IS_BETTER,
        tolerance=gate.tolerance,
    )
