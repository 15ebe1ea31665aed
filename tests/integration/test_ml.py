"""The AI use cases on fixtures: tracked in MLflow, gated, promoted, exported, reproducible."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import (
    FIXTURE_FILES,
    FIXTURES,
    check_evaluations,
    materialization_metadata,
    mlflow_client,
)
from tests.fingerprints import table_fingerprint

pytestmark = pytest.mark.long

ML_GROUPS = "group:features or group:router or group:forecast"


def _outputs(warehouse) -> Path:
    return warehouse.root / "outputs"


def test_training_is_tracked_registered_promoted_and_exported(built):
    warehouse, result = built
    client = mlflow_client()
    for name, model_key in (
        ("intent_router", "ml/router_model"),
        ("demand_forecaster", "ml/demand_model"),
    ):
        meta = materialization_metadata(result, model_key)
        run = client.get_run(meta["mlflow_run_id"])
        assert run.data.tags["dagster_run_id"] == result.run_id
        assert run.data.tags["git_commit"]
        assert len(run.data.tags["data_md5"]) == 32
        assert run.data.params["seed"] == "42"
        version = client.get_model_version(name, meta["model_version"])
        assert version.run_id == run.info.run_id
        assert (
            str(client.get_model_version_by_alias(name, "champion").version)
            == meta["model_version"]
        )
        mlmodel = (_outputs(warehouse) / "models" / name / "MLmodel").read_text()
        assert "signature" in mlmodel and "sklearn" in mlmodel
    router_run = client.get_run(
        materialization_metadata(result, "ml/router_model")["mlflow_run_id"]
    )
    for metric in ("accuracy", "macro_f1", "auto_precision", "automation_rate", "threshold"):
        assert metric in router_run.data.metrics
    assert any(m.startswith("f1.") for m in router_run.data.metrics)
    forecast_run = client.get_run(
        materialization_metadata(result, "ml/demand_model")["mlflow_run_id"]
    )
    for metric in ("wape_model", "wape_naive", "wape_seasonal_naive", "mase_model", "bias_model"):
        assert metric in forecast_run.data.metrics
    for gate in ("router_clears_promotion_gate", "forecaster_clears_promotion_gate"):
        assert check_evaluations(result)[gate].passed


def test_routed_messages_and_forecasts_are_tables_a_person_can_use(built):
    warehouse, _ = built
    routes = dict(warehouse.query("select route, count(*) from ml.routed_messages group by 1"))
    assert set(routes) <= {"auto", "human"} and sum(routes.values()) == warehouse.scalar(
        "select count(*) from stg.stg_crm__messages where split = 'test'"
    )
    explained = warehouse.scalar("select count(*) from ml.routed_messages where explanation <> ''")
    assert explained > 0.9 * sum(routes.values())
    # a person's queue: every message says why it is there and which intents are nearest
    queue = warehouse.query(
        "select reason, suggested_intent, suggested_intents from ml.human_queue"
    )
    assert len(queue) == routes["human"]
    reasons = {r[0] for r in queue}
    assert reasons <= {"unknown_intent", "escalation_label", "low_confidence"}
    assert "unknown_intent" in reasons
    intents = {
        r[0] for r in warehouse.query("select distinct labelled_intent from ml.routed_messages")
    }
    for _, first, nearest in queue:
        suggested = nearest.split(", ")
        assert suggested[0] == first and len(suggested) == 3 and set(suggested) <= intents
    # the unseen-intent evaluation's routes are in the warehouse, without the messages' text
    columns = {r[0] for r in warehouse.query("describe ml.router_open_set")}
    assert "text" not in columns and {"out_of_scope", "route", "reason"} <= columns
    assert warehouse.scalar("select count(*) from ml.router_open_set where out_of_scope") > 0
    bad_intervals = warehouse.scalar(
        "select count(*) from ml.demand_forecast where not (lower_units <= forecast_units and forecast_units <= upper_units)"
    )
    assert bad_intervals == 0
    assert warehouse.scalar("select count(distinct horizon) from ml.demand_forecast") == 4


def test_metrics_files_match_mlflow(built):
    warehouse, result = built
    router_metrics = json.loads((_outputs(warehouse) / "metrics" / "router.json").read_text())
    run = mlflow_client().get_run(
        materialization_metadata(result, "ml/router_model")["mlflow_run_id"]
    )
    assert router_metrics["accuracy"] == round(run.data.metrics["accuracy"], 6)
    for name in ("oos_recall", "automation_rate", "auto_precision", "accuracy"):
        key = f"open_set.{name}"
        assert router_metrics[key] == round(run.data.metrics[key], 6)
    forecast_metrics = json.loads((_outputs(warehouse) / "metrics" / "forecast.json").read_text())
    ratio = forecast_metrics["wape_model"] / forecast_metrics["wape_naive"]
    assert forecast_metrics["wape_ratio_to_naive"] == pytest.approx(ratio, abs=1e-5)


def _published(warehouse) -> dict:
    files = {
        f: (_outputs(warehouse) / "metrics" / f).read_bytes()
        for f in ("router.json", "forecast.json", "router_coverage.csv", "forecast_backtest.csv")
    }
    with warehouse.connect() as con:
        # the figures, not which run they are filed under
        backtest = table_fingerprint(
            con, "(select * exclude (mlflow_run_id, model_version) from ml.demand_backtest)"
        )
        run_ids = con.execute("select distinct mlflow_run_id from ml.demand_backtest").fetchall()
    return {**files, "ml.demand_backtest": backtest, "backtest runs": len(run_ids)}


def _trained(result) -> dict[str, tuple[str, bool]]:
    """Model asset -> (version, reused) in `result`."""
    return {
        key: (meta["model_version"], meta["reused"])
        for key in ("ml/router_model", "ml/demand_model")
        for meta in [materialization_metadata(result, key)]
    }


@pytest.mark.starts_built
def test_an_unchanged_model_is_reused_and_retrained_alike_on_request(warehouse, pipeline):
    """Same extract, settings and code: the registered version is reused, not trained again.
    --full-refresh trains it again and gets byte-identical figures; a changed setting retrains."""
    from ai_roi.lib.ml_assets import FULL_REFRESH_TAG

    first = _published(warehouse)
    again = pipeline(ML_GROUPS)
    assert again.success
    assert _trained(again) == {"ml/router_model": ("1", True), "ml/demand_model": ("1", True)}
    assert _published(warehouse) == first
    assert len(mlflow_client().search_model_versions("name = 'intent_router'")) == 1

    refreshed = pipeline(ML_GROUPS, tags={FULL_REFRESH_TAG: "true"})
    assert refreshed.success
    assert _trained(refreshed) == {"ml/router_model": ("2", False), "ml/demand_model": ("2", False)}
    assert _published(warehouse) == first  # training is deterministic
    assert (
        str(mlflow_client().get_model_version_by_alias("intent_router", "champion").version) == "2"
    )

    warehouse.write_params(forecast={"model": {"learning_rate": 0.02}})
    changed = pipeline(ML_GROUPS)
    assert _trained(changed) == {"ml/router_model": ("2", True), "ml/demand_model": ("3", False)}


def _write_messages(path: Path, frame: pd.DataFrame) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)


@pytest.mark.starts_built
def test_shuffled_labels_are_registered_but_not_promoted(warehouse, pipeline):
    client = mlflow_client()
    metrics = _outputs(warehouse) / "metrics"
    champion_figures = {p.name: p.read_bytes() for p in metrics.iterdir()}
    assert str(client.get_model_version_by_alias("intent_router", "champion").version) == "1"

    train = pd.read_csv(FIXTURES / "messages_train.csv.gz")
    train["category"] = np.random.default_rng(7).permutation(train["category"].to_numpy())
    damaged = warehouse.root / "messages_train_shuffled.csv.gz"
    _write_messages(damaged, train)
    files = {
        **FIXTURE_FILES,
        "messages": [{"path": str(damaged), "partition": "train"}, FIXTURE_FILES["messages"][1]],
    }
    warehouse.write_catalog(files=files)
    result = pipeline()

    assert not result.success
    gate = check_evaluations(result)["router_clears_promotion_gate"]
    assert not gate.passed and gate.severity.value == "ERROR"
    assert "below the bar" in gate.metadata["failures"].value
    assert str(client.get_model_version("intent_router", "2").version) == "2"  # registered...
    assert (
        str(client.get_model_version_by_alias("intent_router", "champion").version) == "1"
    )  # ...not promoted
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "ml/router_champion" not in materialised and "ml/routed_messages" not in materialised
    # the refused candidate's figures never replace the champion's
    assert {p.name: p.read_bytes() for p in metrics.iterdir()} == champion_figures


@pytest.mark.starts_built
def test_router_retrains_on_a_business_own_label_set(warehouse, pipeline):
    """A warehouse whose router learnt Banking77's 77 intents gets the shop's own export and
    label set: the router is trained again on those 4 labels and routes by them."""

    def relabel(label: str) -> str:
        for group in ("card", "transfer", "top_up"):
            if group in label:
                return group
        return "other"

    files = {}
    for spec in FIXTURE_FILES["messages"]:
        frame = pd.read_csv(spec["path"]).rename(columns={"text": "question", "category": "topic"})
        frame["topic"] = frame["topic"].map(relabel)
        path = warehouse.root / f"shop_{spec['partition']}.csv.gz"
        _write_messages(path, frame)
        files.setdefault("messages", []).append({"path": str(path), "partition": spec["partition"]})
    labels = warehouse.root / "labels.json"
    labels.write_text(json.dumps(["card", "transfer", "top_up", "other"]))
    # the shop's "other" is no intent: the messages of everything it does not handle; its
    # transfers are always answered by a person
    warehouse.write_catalog(
        files={**FIXTURE_FILES, **files},
        messages={
            "columns": {"text": "question", "label": "topic"},
            "label_set_path": str(labels),
            "out_of_scope_labels": ["other"],
            "escalate_labels": ["transfer"],
        },
    )
    result = pipeline()
    assert result.success
    assert materialization_metadata(result, "ml/router_dataset")["labels"] == 4
    routed = warehouse.query(
        "select labelled_intent, predicted_intent, route, reason, in_scope from ml.routed_messages"
    )
    # "other" is never an intent the router answers with; "transfer" is one it never answers
    assert {r[1] for r in routed} == {"card", "transfer", "top_up"}
    transfers = [r for r in routed if r[1] == "transfer"]
    assert {r[2] for r in transfers} == {"human"}
    reasons = {r[3] for r in transfers}
    assert "escalation_label" in reasons and reasons <= {"escalation_label", "unknown_intent"}
    # most of the "other" messages go to a person as unknown: the labelled ones fit the scope
    other = [r for r in routed if r[0] == "other"]
    assert all(not r[4] for r in other) and all(r[4] for r in routed if r[0] != "other")
    unknown = sum(r[3] == "unknown_intent" for r in other) / len(other)
    evaluation = materialization_metadata(result, "ml/router_evaluation")
    assert evaluation["oos_recall"] >= unknown >= 0.6
    # the ROI's automation counts only the in-scope traffic: the shop's share of it
    in_scope = sum(r[4] for r in routed) / len(routed)
    measured = warehouse.query(
        "select in_scope_share, in_scope_automation, automation_rate from marts.mart_roi_summary"
    )[0]
    answered = [r[2] == "auto" for r in routed if r[4]]
    assert measured[0] == pytest.approx(in_scope) and in_scope < 0.7
    assert measured[1] == pytest.approx(sum(answered) / len(answered))
    assert measured[2] == pytest.approx(in_scope * sum(answered) / len(answered))
