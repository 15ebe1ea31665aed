"""Helpers shared by the AI use-case assets: extracts, upstream metadata, the promotion gate."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)
from dagster_duckdb import DuckDBResource

from ai_roi.lib import code_location, freshness
from ai_roi.lib.history import recorded
from ai_roi.lib.warehouse import replace_table
from ai_roi.ml import tracking
from ai_roi.resources import MlflowResource, OutputsResource

# Tags of the AI use cases' assets that hold no personal data.
ML_TAGS = {"classification": "internal", "domain": "ai"}
# A run with this tag set to "true" trains every model again (`ai-roi run --full-refresh`).
FULL_REFRESH_TAG = "ai_roi/full_refresh"


def reusable_version(context, model_name: str, key: str) -> tracking.TrainedVersion | None:
    """The registered version trained with the same training key, unless the run asks to retrain.

    A model whose extract, settings and training code are those of a registered version is that
    version: training it again would register an identical copy (and take minutes).
    """
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        return None
    found = tracking.trained_version(model_name, key)
    if found is not None:
        context.log.info(
            f"{model_name}: extract, settings and code unchanged since version {found.version} "
            f"(MLflow run {found.run_id}); reusing it instead of training again"
        )
    return found


def write_frame(frame: pd.DataFrame, path: Path, data_versions: dict[str, str]) -> None:
    """Write `frame` to `path` atomically: readers see the old file or the new one, never half.

    The file records the deliveries it was built from (`freshness.parquet_versions` reads them),
    so a model trained on it can say which data it learnt from.
    """
    tmp = path.with_suffix(".tmp.parquet")
    table = freshness.write_parquet_versions(
        pa.Table.from_pandas(frame, preserve_index=False), data_versions
    )
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def latest_metadata(context, key: dg.AssetKey) -> dict:
    """Metadata of the latest materialisation of `key`: how assets hand a model version on."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(
            f"{key.to_user_string()} has not been materialised yet; materialise it first"
        )
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def latest_materialization_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    """Storage id of the latest materialisation of `key`: the data version its checks must judge."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1)
    return records.records[0].storage_id if records.records else None


def latest_completed_evaluation(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey
) -> dg.AssetCheckEvaluation | None:
    """The latest evaluation of `check_key` that finished; planned ones (a killed run) are skipped."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
    )
    if not history or history[0].event is None or history[0].event.dagster_event is None:
        return None
    return history[0].event.dagster_event.event_specific_data


def upstream_check_failures(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[str]:
    """Why the data upstream of `key` is not known to be good; empty when it is.

    The code location's whole graph is judged, whatever the run selected. Every blocking check on
    an ancestor needs a completed, passing result (a warning counts as passing) for that asset's
    latest materialisation, the data the model was trained on; no result, or one for an earlier
    materialisation, fails. A check that does not block fails the gate only with severity ERROR.
    """
    graph = code_location.asset_graph()
    ancestors = graph.get_ancestor_asset_keys(key)
    failures = []
    for check_key in sorted(graph.get_check_keys_for_assets(ancestors), key=str):
        name = f"{check_key.asset_key.to_user_string()}:{check_key.name}"
        blocking = graph.get_check_spec(check_key).blocking
        evaluation = latest_completed_evaluation(instance, check_key)
        if evaluation is None:
            if blocking:
                failures.append(f"upstream check {name} has no result")
            continue
        current = latest_materialization_id(instance, check_key.asset_key)
        target = evaluation.target_materialization_data
        if blocking and (target is None or target.storage_id != current):
            failures.append(
                f"upstream check {name} has no result for the latest materialisation of "
                f"{check_key.asset_key.to_user_string()}"
            )
        elif not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failures.append(f"upstream check {name} failed")
    return failures


def promotion_gate(
    context: dg.AssetCheckExecutionContext,
    duckdb: DuckDBResource,
    mlflow_store: MlflowResource,
    *,
    model_name: str,
    asset_key: dg.AssetKey,
    candidate_version: str,
    observed: dict[str, float],
    minimums: dict[str, float],
    maximums: dict[str, float],
    higher_is_better: dict[str, bool],
    tolerance: float,
    rescore_champion: Callable[[tracking.Champion], dict[str, float]],
) -> dg.AssetCheckResult:
    """Pass only if upstream blocking checks passed, the bars are met, and the champion is not beaten.

    The champion is compared on the candidate's own evaluation data: `rescore_champion` scores it
    there (its figures from training were measured on other data once new data has arrived).
    The result is recorded in the quality history like every other check.
    """
    mlflow_store.experiment(model_name)
    current = tracking.champion(model_name)
    incumbent = None
    if current is not None and current.version != candidate_version:
        incumbent = rescore_champion(current)
    failures = upstream_check_failures(context.instance, asset_key)
    failures += tracking.gate_failures(
        observed, minimums, maximums, higher_is_better, incumbent, tolerance
    )
    compared = {k: incumbent[k] for k in higher_is_better if k in incumbent} if incumbent else {}
    champion_misses = tracking.bar_failures(incumbent, minimums, maximums) if incumbent else []
    result = dg.AssetCheckResult(
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "dimension": "accuracy",  # of the model: a gate on predictive quality
            "candidate_version": candidate_version,
            "champion_version": current.version if current else "none",
            "observed": dg.MetadataValue.json(observed),
            "minimums": dg.MetadataValue.json(minimums),
            "maximums": dg.MetadataValue.json(maximums),
            "champion_metrics": dg.MetadataValue.json(compared),
            "champion_scored_on": "the candidate's evaluation data",
            # a champion missing today's bars is not compared with
            "champion_misses_bars": "; ".join(champion_misses) or "none",
            "tolerance": tolerance,
            "failures": "; ".join(failures) or "none",
        },
    )
    with duckdb.get_connection() as con:
        return recorded(context, con, [result], kind="gate", asset_key=asset_key)[0]


def promote_champion(
    context: dg.AssetExecutionContext,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
    *,
    model_name: str,
    candidate_key: dg.AssetKey,
) -> dg.MaterializeResult:
    """Alias the version `candidate_key` produced as champion and export it to models/<name>."""
    version = latest_metadata(context, candidate_key)["model_version"]
    mlflow_store.experiment(model_name)
    tracking.promote(model_name, version)
    folder = tracking.export_champion(model_name, outputs.path("models", model_name))
    return dg.MaterializeResult(metadata={"champion_version": version, "exported_to": str(folder)})


def load_champion(mlflow_store: MlflowResource, model_name: str, champion_key: dg.AssetKey):
    """The champion's registry entry and its loaded model; a clear failure when there is none."""
    mlflow_store.experiment(model_name)
    best = tracking.champion(model_name)
    if best is None:
        raise dg.Failure(
            f"no {model_name} champion yet: materialise {champion_key.to_user_string()} first"
        )
    return best, tracking.load_model(f"models:/{model_name}@{tracking.CHAMPION}")


def publish_table(duckdb: DuckDBResource, frame: pd.DataFrame, table: str) -> None:
    """Replace DuckDB table `ml.<table>` with `frame`."""
    with duckdb.get_connection() as con:
        replace_table(con, "ml", table, frame)
