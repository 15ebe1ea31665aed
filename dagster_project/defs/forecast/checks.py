"""The forecaster's promotion gate: a blocking check in front of the champion alias."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.forecast.assets import MODEL_KEY, NAME
from dagster_project.defs.resources import MlflowResource, ParamsResource
from dagster_project.lib.ml_assets import latest_metadata, promotion_gate

# lower WAPE and MASE are better
HIGHER_IS_BETTER = {"wape_model": False, "mase_model": False}


@dg.asset_check(
    asset=MODEL_KEY,
    blocking=True,
    metadata={"dimension": "accuracy"},
    name="forecaster_clears_promotion_gate",
)
def forecaster_clears_promotion_gate(
    context: dg.AssetCheckExecutionContext,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    duckdb: DuckDBResource,
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the model beats the naive baselines by the bars in params.yaml, and the champion is not beaten."""
    gate = params.load().forecast.gate
    candidate = latest_metadata(context, MODEL_KEY)
    maximums = {
        "wape_ratio_to_naive": gate.max_wape_ratio_to_naive,
        "wape_ratio_to_seasonal_naive": gate.max_wape_ratio_to_seasonal_naive,
    }
    return promotion_gate(
        context,
        duckdb,
        mlflow_store,
        model_name=NAME,
        asset_key=MODEL_KEY,
        candidate_version=candidate["model_version"],
        observed={
            k: candidate[k] for k in (*maximums, *HIGHER_IS_BETTER, "wape_naive", "bias_model")
        },
        minimums={},
        maximums=maximums,
        higher_is_better=HIGHER_IS_BETTER,
        tolerance=gate.tolerance,
    )
