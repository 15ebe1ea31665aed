"""The forecaster's promotion gate: a blocking check in front of the champion alias."""

import dagster as dg
import mlflow
from dagster_duckdb import DuckDBResource
from mlflow.exceptions import MlflowException

from ai_roi.defs.forecast.assets import (
    MODEL_KEY,
    NAME,
    PARAMS_ARTIFACT,
    backtest_scores,
    panel_of,
)
from ai_roi.lib.ml_assets import latest_metadata, promotion_gate
from ai_roi.ml import tracking
from ai_roi.params import ForecastParams
from ai_roi.resources import MlflowResource, OutputsResource, ParamsResource

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
    outputs: OutputsResource,
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the model beats the naive baselines by the bars in params.yaml, and the champion is not beaten."""
    p = params.load()
    gate = p.forecast.gate
    candidate = latest_metadata(context, MODEL_KEY)

    def rescore_champion(champion: tracking.Champion) -> dict[str, float]:
        """The champion's settings backtested on the candidate's extract, as the candidate was.

        Same settings on the same data give the candidate's own backtest, so only a champion
        trained with other settings is backtested again.
        """
        try:
            settings = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{PARAMS_ARTIFACT}")
        except (MlflowException, OSError):  # trained before its settings were recorded
            return champion.metrics
        if settings == {"seed": p.seed, "forecast": p.forecast.model_dump(mode="json")}:
            return {k: candidate[k] for k in HIGHER_IS_BETTER}
        champion_params = ForecastParams.model_validate(settings["forecast"])
        _, scores = backtest_scores(panel_of(outputs), champion_params, settings["seed"])
        return {f"{metric}_model": scores["model"][metric] for metric in ("wape", "mase")}

    maximums = {
        "wape_ratio_to_naive": gate.max_wape_ratio_to_naive,
        "wape_ratio_to_seasonal_naive": gate.max_wape_ratio_to_seasonal_naive,
        "abs_bias": gate.max_abs_bias,
    }
    return promotion_gate(
        context,
        duckdb,
        mlflow_store,
        model_name=NAME,
        asset_key=MODEL_KEY,
        candidate_version=candidate["model_version"],
        observed={
            "abs_bias": abs(candidate["bias_model"]),
            **{
                k: candidate[k]
                for k in (*maximums, *HIGHER_IS_BETTER, "wape_naive", "bias_model")
                if k != "abs_bias"
            },
        },
        minimums={},
        maximums=maximums,
        higher_is_better=HIGHER_IS_BETTER,
        tolerance=gate.tolerance,
        rescore_champion=rescore_champion,
    )
