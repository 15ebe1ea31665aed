"""The router's promotion gate: a blocking check in front of the champion alias."""

import dagster as dg

from dagster_project.defs.resources import MlflowResource, ParamsResource
from dagster_project.defs.router.assets import EVALUATION_KEY, NAME
from dagster_project.lib.ml_assets import gate_result, latest_metadata, upstream_check_failures
from dagster_project.ml import tracking

HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "auto_precision": True,
    "automation_rate": True,
}


@dg.asset_check(asset=EVALUATION_KEY, blocking=True, name="router_clears_promotion_gate")
def router_clears_promotion_gate(
    context: dg.AssetCheckExecutionContext, params: ParamsResource, mlflow_store: MlflowResource
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the bars in params.yaml are met, and the champion is not beaten."""
    gate = params.load().router.gate
    candidate = latest_metadata(context, EVALUATION_KEY)
    metrics = {k: candidate[k] for k in HIGHER_IS_BETTER}
    mlflow_store.experiment(NAME)
    current = tracking.champion(NAME)
    incumbent = (
        current.metrics if current and current.version != candidate["model_version"] else None
    )
    bars = {
        "accuracy": gate.min_accuracy,
        "macro_f1": gate.min_macro_f1,
        "auto_precision": gate.min_auto_precision,
        "automation_rate": gate.min_automation_rate,
    }
    failures = upstream_check_failures(context, EVALUATION_KEY)
    failures += tracking.gate_failures(
        metrics, bars, {}, HIGHER_IS_BETTER, incumbent, gate.tolerance
    )
    return gate_result(
        failures,
        {
            "candidate_version": candidate["model_version"],
            "champion_version": current.version if current else "none",
            "observed": dg.MetadataValue.json(metrics),
            "minimums": dg.MetadataValue.json(bars),
            "champion_metrics": dg.MetadataValue.json(
                {k: incumbent[k] for k in HIGHER_IS_BETTER if k in incumbent} if incumbent else {}
            ),
            "tolerance": gate.tolerance,
        },
    )
