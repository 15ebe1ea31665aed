"""Product demand forecaster: weekly history -> backtested model -> champion -> forecast table."""

import json
import sys
import tempfile
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import sklearn
from dagster_duckdb import DuckDBResource
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from ai_roi.defs.features.assets import DEMAND_EXTRACT, DEMAND_HISTORY_KEY
from ai_roi.lib import freshness
from ai_roi.lib.ml_assets import (
    ML_TAGS,
    latest_metadata,
    load_champion,
    promote_champion,
    publish_table,
    reusable_version,
    write_json,
)
from ai_roi.lib.warehouse import fetch_frame
from ai_roi.ml import forecast, tracking
from ai_roi.resources import MlflowResource, OutputsResource, ParamsResource

NAME = "demand_forecaster"
MODEL_KEY = dg.AssetKey(["ml", "demand_model"])
CHAMPION_KEY = dg.AssetKey(["ml", "demand_champion"])
FORECAST_KEY = dg.AssetKey(["ml", "demand_forecast"])
CANDIDATE_BACKTEST = "demand_backtest_candidate"
PARAMS_ARTIFACT = "forecast_params.json"
BACKTEST_ARTIFACT = "backtest.parquet"
SUMMARY_ARTIFACT = "training_summary.json"
# this module trains the model: its source is part of the training key
THIS = sys.modules[__name__]


def backtest_scores(panel: forecast.Panel, fp, seed: int) -> tuple[pd.DataFrame, dict]:
    """The rolling-origin backtest of settings `fp` on `panel` (its season fitted to the panel's
    history, `forecast.seasonal`), and its scores per method."""
    fp = forecast.seasonal(fp, panel)
    backtest = forecast.backtest(panel, fp, seed)
    first_origin = forecast.origins(panel, fp)[0]
    return backtest, forecast.scores(backtest, forecast.naive_scale(panel, first_origin))


def panel_of(outputs: OutputsResource) -> forecast.Panel:
    return forecast.Panel.from_long(pd.read_parquet(outputs.path(*DEMAND_EXTRACT)))


@dg.asset(
    key=MODEL_KEY,
    deps=[DEMAND_HISTORY_KEY],
    group_name="forecast",
    kinds={"mlflow", "sklearn"},
    tags=ML_TAGS,
)
def demand_model(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """Forecaster backtested on rolling origins against naive baselines, then fitted on all history; one MLflow model version per distinct extract, settings and code (an unchanged one is reused). Its backtest goes to ml.demand_backtest_candidate (one row per product, origin and horizon) until the gate lets it through."""
    p = params.load()
    fp = p.forecast
    path = outputs.path(*DEMAND_EXTRACT)
    versions = freshness.parquet_versions(path) or {}
    hashes = tracking.file_hashes(path)
    experiment = mlflow_store.experiment(NAME)
    settings_used = {"seed": p.seed, "forecast": fp.model_dump(mode="json", exclude={"gate"})}
    key = tracking.training_key(hashes["data_sha256"], settings_used, [forecast, THIS], [sklearn])
    reused = reusable_version(context, NAME, key)
    if reused is not None:
        saved = _saved_training(reused.run_id)
        if saved is not None:
            summary, backtest, sizes = saved
            publish_table(
                duckdb,
                backtest.assign(mlflow_run_id=reused.run_id, model_version=reused.version),
                CANDIDATE_BACKTEST,
            )
            return _model_result(summary, versions, reused.run_id, reused.version, sizes, key, True)
    panel = panel_of(outputs)
    fp = forecast.seasonal(fp, panel)
    try:
        backtest, scores = backtest_scores(panel, fp, p.seed)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from None
    offsets = forecast.interval_offsets(backtest, fp)
    future, model = forecast.forecast(panel, fp, p.seed, offsets)
    summary = {
        f"{metric}_{method}": value for method, m in scores.items() for metric, value in m.items()
    }
    summary["wape_ratio_to_naive"] = scores["model"]["wape"] / scores["naive"]["wape"]
    summary["wape_ratio_to_seasonal_naive"] = (
        scores["model"]["wape"] / scores["seasonal_naive"]["wape"]
    )
    summary["wape_improvement_vs_naive_pct"] = 100 * (1 - summary["wape_ratio_to_naive"])
    summary["interval_coverage"] = forecast.interval_coverage(backtest, offsets)
    summary["season_weeks"] = fp.season_length  # 52 once the history spans two years

    with mlflow.start_run(
        experiment_id=experiment, run_name=f"forecast-{context.run.run_id[:8]}"
    ) as run:
        mlflow.set_tags(
            {
                "dagster_run_id": context.run.run_id,
                "git_commit": tracking.git_commit(),
                "data_path": path.name,
                "data_versions": json.dumps(versions, sort_keys=True),
                tracking.TRAINING_KEY_TAG: key,
                **hashes,
            }
        )
        flat = {k: v for k, v in fp.model_dump().items() if k not in ("model", "gate")}
        mlflow.log_params(
            {"seed": p.seed, **flat, **{f"model.{k}": v for k, v in fp.model.model_dump().items()}}
        )
        mlflow.log_params({"products": len(panel.products), "weeks": panel.units.shape[1]})
        # every setting, typed, so the gate can backtest this version again on newer data
        # as params.yaml says them: the gate fits them to the history it backtests them on
        mlflow.log_dict(
            {"seed": p.seed, "forecast": p.forecast.model_dump(mode="json")}, PARAMS_ARTIFACT
        )
        mlflow.log_metrics(summary)
        mlflow.log_dict(
            {str(h): row for h, row in offsets.to_dict("index").items()}, "interval_offsets.json"
        )
        mlflow.log_table(
            backtest.assign(
                origin=backtest["origin"].astype(str), week_start=backtest["week_start"].astype(str)
            ),
            "backtest.json",
        )
        sizes = {"products": len(panel.products), "backtest_rows": len(backtest)}
        # exactly what a later run with the same training key publishes instead of training again
        with tempfile.TemporaryDirectory() as tmp:
            backtest.to_parquet(Path(tmp) / BACKTEST_ARTIFACT, index=False)
            mlflow.log_artifact(str(Path(tmp) / BACKTEST_ARTIFACT))
        mlflow.log_dict({"summary": summary, **sizes}, SUMMARY_ARTIFACT)
        names = forecast.feature_names(fp)
        x, _ = forecast.features_at(panel.units, panel.units.shape[1] - 1, 1, fp)
        example = pd.DataFrame(x[:3], columns=names)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            registered_model_name=NAME,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            # our own file, written by this run: skops may load the tree nodes it holds
            skops_trusted_types=forecast.TRUSTED_TYPES,
        )
    # a candidate's backtest and metrics stay the candidate's: the champion asset publishes them
    # once the gate has let the version through (the ROI reads ml.demand_backtest)
    publish_table(
        duckdb,
        backtest.assign(
            mlflow_run_id=run.info.run_id, model_version=str(info.registered_model_version)
        ),
        CANDIDATE_BACKTEST,
    )
    return _model_result(
        summary, versions, run.info.run_id, str(info.registered_model_version), sizes, key, False
    )


def _model_result(summary, versions, run_id, version, sizes, key, reused) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            **{k: float(v) for k, v in summary.items()},
            "metrics": dg.MetadataValue.json({k: round(v, 6) for k, v in summary.items()}),
            "data_versions": dg.MetadataValue.json(versions),
            "mlflow_run_id": run_id,
            "model_version": version,
            **sizes,
            "reused": reused,
            "training_key": key,
        }
    )


def _saved_training(run_id: str) -> tuple[dict, pd.DataFrame, dict] | None:
    """The summary and exact backtest a training run saved, or None (trained before they were)."""
    try:
        saved = mlflow.artifacts.load_dict(f"runs:/{run_id}/{SUMMARY_ARTIFACT}")
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"runs:/{run_id}/{BACKTEST_ARTIFACT}", dst_path=tmp
            )
            backtest = pd.read_parquet(local)
    except (MlflowException, OSError):
        return None
    summary = saved.pop("summary")
    return summary, backtest, saved


@dg.asset(key=CHAMPION_KEY, deps=[MODEL_KEY], group_name="forecast", kinds={"mlflow"}, tags=ML_TAGS)
def demand_champion(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """The forecaster version that cleared the promotion gate, aliased champion and exported to models/demand_forecaster, with its backtest (ml.demand_backtest) and metrics/forecast.json; one champion version per model name."""
    result = promote_champion(
        context, mlflow_store, outputs, model_name=NAME, candidate_key=MODEL_KEY
    )
    candidate = latest_metadata(context, MODEL_KEY)
    with duckdb.get_connection() as con:
        backtest = fetch_frame(con, f"select * from ml.{CANDIDATE_BACKTEST}")
    publish_table(duckdb, backtest, "demand_backtest")
    write_json(
        outputs.path("metrics", "forecast.json"),
        {**candidate["metrics"], "data_versions": candidate["data_versions"]},
    )
    per_origin = (
        backtest.assign(
            **{m: (backtest[m] - backtest["actual"]).abs() for m in ("model", *forecast.BASELINES)}
        )
        .groupby("origin")[["actual", "model", *forecast.BASELINES]]
        .sum()
    )
    wape_by_origin = (
        per_origin[["model", *forecast.BASELINES]].div(per_origin["actual"], axis=0).round(6)
    )
    wape_by_origin.reset_index().assign(
        origin=lambda d: pd.to_datetime(d["origin"]).dt.date.astype(str)
    ).to_csv(outputs.path("metrics", "forecast_backtest.csv"), index=False)
    return result


@dg.asset(
    key=FORECAST_KEY, deps=[CHAMPION_KEY], group_name="forecast", kinds={"duckdb"}, tags=ML_TAGS
)
def demand_forecast(
    duckdb: DuckDBResource,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """Units forecast by the champion for the weeks after the history, with a prediction interval; one row per product-week."""
    panel = panel_of(outputs)
    fp = forecast.seasonal(params.load().forecast, panel)
    best, model = load_champion(mlflow_store, NAME, CHAMPION_KEY)
    offsets_raw = mlflow.artifacts.load_dict(f"runs:/{best.run_id}/interval_offsets.json")
    offsets = pd.DataFrame.from_dict(offsets_raw, orient="index")
    offsets.index = offsets.index.astype(int)
    forecast_frame = forecast.future(model, panel, fp, offsets)
    forecast_frame["model_version"] = best.version
    publish_table(duckdb, forecast_frame, "demand_forecast")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(forecast_frame),
            "weeks": dg.MetadataValue.json(
                sorted({str(w.date()) for w in forecast_frame["week_start"]})
            ),
            "total_forecast_units": float(forecast_frame["forecast_units"].sum()),
            "champion_version": best.version,
            "interval": json.dumps(list(fp.interval)),
        }
    )
