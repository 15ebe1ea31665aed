"""The forecaster's promotion gate: a blocking check in front of the champion alias."""

import dagster as dg

from dagster_project.defs.forecast.assets import MODEL_KEY, NAME
from dagster_project.defs.resources import MlflowResource, ParamsResource
from dagster_project.lib.ml_assets import gate_result, latest_metadata, upstream_check_failures
from dagster_project.ml import tracking

# lower WAPE, MASE and absolute bias are better
HIGHER_IS_BETTER = {"wape_model": False, "mase_model": False}


@dg.asset_check(asset=MODEL_KEY, blocking=True, name="forecaster_clears_promotion_gate")
def forecaster_clears_promotion_gate(
    context: dg.AssetCheckExecutionContext, params: ParamsResource, mlflow_store: MlflowResource
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the model beats the naive baselines by the bars in params.yaml, and the champion is not beaten."""
    gate = params.load().forecast.gate
    candidate = latest_metadata(context, MODEL_KEY)
    mlflow_store.experiment(NAME)
    current = tracking.champion(NAME)
    incumbent = (
        current.metrics if current and current.version != candidate["model_version"] else None
    )
    maximums = {
        "wape_ratio_to_naive": gate.max_wape_ratio_to_naive,
        "wape_ratio_to_seasonal_naive": gate.max_wape_ratio_to_seasonal_naive,
    }
    observed = {k: candidate[k] for k in (*maximums, *HIGHER_IS_BETTER, "wape_naive", "bias_model")}
    failures = upstream_check_failures(context, MODEL_KEY)
    failures += tracking.gate_failures(
        observed, {}, maximums, HIGHER_IS_BETTER, incumbent, gate.tolerance
    )
    return gate_result(
        failures,
        {
            "candidate_version": candidate["model_version"],
            "champion_version": current.version if current else "none",
            "observed": dg.MetadataValue.json(observed),
            "maximums": dg.MetadataValue.json(maximums),
            "champion_metrics": dg.MetadataValue.json(
                {k: incumbent[k] for k in HIGHER_IS_BETTER if k in incumbent} if incumbent else {}
            ),
            "tolerance": gate.tolerance,
        },
    )
