"""The promotion gates judge the whole graph and the data the model learned from, whatever ran."""

from __future__ import annotations

import csv
import gzip

import pytest

from ai_roi import settings
from ai_roi.ml import tracking
from tests.conftest import FIXTURE_FILES, FIXTURES, check_evaluations

pytestmark = pytest.mark.long


def _header_only(source_file, target) -> None:
    with gzip.open(source_file, "rt", encoding="utf-8") as src:
        header = src.readline()
    with gzip.open(target, "wt", encoding="utf-8") as out:
        out.write(header)


def _champion(name: str) -> str | None:
    tracking.use_store(settings.mlflow_tracking_uri(), settings.mlflow_artifacts(), name)
    best = tracking.champion(name)
    return best.version if best else None


@pytest.fixture(scope="module")
def trained(template, tmp_path_factory):
    """A warehouse with both champions, after a run that failed before its raw checks ran."""
    from tests.conftest import run_pipeline

    with pytest.MonkeyPatch.context() as mp:
        wh = template.copy_to(tmp_path_factory.mktemp("gate"), mp)
        missing = {"path": str(wh.root / "no_such_file.csv.gz"), "partition": "train"}
        wh.write_catalog(files={**FIXTURE_FILES, "messages": [missing]})
        assert not run_pipeline("group:raw").success  # its raw/messages checks stay planned
        wh.write_catalog()
        yield wh


@pytest.fixture(scope="module")
def upstream_failed(trained):
    """The same warehouse, whose latest raw deliveries then failed a blocking check."""
    from tests.conftest import run_pipeline

    wh = trained
    champions = {name: _champion(name) for name in ("intent_router", "demand_forecaster")}
    assert all(champions.values())
    orders, messages = wh.root / "orders_empty.csv.gz", wh.root / "messages_empty.csv.gz"
    _header_only(FIXTURES / "order_lines.csv.gz", orders)
    _header_only(FIXTURES / "messages_train.csv.gz", messages)
    wh.write_catalog(
        files={
            **FIXTURE_FILES,
            "order_lines": [{"path": str(orders)}],
            "messages": [{"path": str(messages), "partition": "train"}],
        }
    )
    raw = run_pipeline("group:raw")
    failed = {e.check_name for e in raw.get_asset_check_evaluations() if not e.passed}
    assert {"raw_order_lines_completeness", "raw_messages_completeness"} <= failed
    return wh, champions


def test_checks_left_planned_by_a_failed_run_do_not_crash_the_gate(trained):
    """The gate reads the latest completed evaluation, which judged the data still in place."""
    from tests.conftest import run_pipeline

    result = run_pipeline("group:router")
    evaluation = check_evaluations(result)["router_clears_promotion_gate"]
    assert evaluation.passed, evaluation.metadata["failures"].value
    assert result.success


@pytest.mark.parametrize(
    ("group", "gate", "name", "upstream"),
    [
        ("router", "router_clears_promotion_gate", "intent_router", "raw/messages"),
        ("forecast", "forecaster_clears_promotion_gate", "demand_forecaster", "raw/order_lines"),
    ],
)
def test_gate_fails_in_a_group_run_after_an_upstream_blocking_failure(
    upstream_failed, group, gate, name, upstream
):
    _, champions = upstream_failed
    from ai_roi.lib.ml_assets import FULL_REFRESH_TAG
    from tests.conftest import run_pipeline

    # trained again (the extract is unchanged, so it would otherwise reuse the champion itself)
    result = run_pipeline(f"group:{group}", tags={FULL_REFRESH_TAG: "true"})
    evaluation = check_evaluations(result)[gate]
    assert not evaluation.passed
    assert evaluation.severity.value == "ERROR"
    reason = evaluation.metadata["failures"].value
    assert f"upstream check {upstream}:" in reason and "failed" in reason
    # the candidate was registered, but the champion alias stayed where it was
    assert int(evaluation.metadata["candidate_version"].value) > int(champions[name])
    assert _champion(name) == champions[name]


def test_a_check_result_for_older_data_does_not_count(upstream_failed):
    """Raw re-materialised without its checks (a UI run can do that): the gate sees no result for
    the data now there, although the checks passed on the earlier materialisation."""
    wh, champions = upstream_failed
    import dagster as dg

    from ai_roi.definitions import defs
    from tests.conftest import run_pipeline

    wh.write_catalog()  # the good fixtures again
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(["raw", "messages"])}, asset_check_selection=set()
    )
    from tests.conftest import dagster_instance

    unchecked = job.execute_in_process(instance=dagster_instance())
    assert unchecked.success and not unchecked.get_asset_check_evaluations()
    result = run_pipeline("group:router")
    evaluation = check_evaluations(result)["router_clears_promotion_gate"]
    assert not evaluation.passed
    assert "has no result for the latest materialisation of raw/messages" in (
        evaluation.metadata["failures"].value
    )
    assert _champion("intent_router") == champions["intent_router"]


@pytest.mark.starts_built
def test_the_champion_is_compared_on_the_candidates_test_split(warehouse, pipeline):
    """New evaluation data: the champion's old figures were measured elsewhere, so it is scored
    again on the candidate's split. The same model on a harder split is not a regression."""
    assert _champion("intent_router") == "1"
    champion_routes = warehouse.query("select * from ml.router_open_set order by all")
    routed = warehouse.query(
        "select text, labelled_intent, predicted_intent from ml.routed_messages"
    )
    wrong = [(t, label) for t, label, predicted in routed if predicted != label]
    right = [(t, label) for t, label, predicted in routed if predicted == label][: len(wrong)]
    assert wrong, "the champion makes some mistakes on the fixtures' test split"
    hard = warehouse.root / "messages_test_hard.csv.gz"
    with gzip.open(hard, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows([["text", "category"], *wrong, *right])
    files = {
        **FIXTURE_FILES,
        "messages": [FIXTURE_FILES["messages"][0], {"path": str(hard), "partition": "test"}],
    }
    warehouse.write_catalog(files=files)
    # the split is made of the champion's own mistakes on purpose: no model clears the
    # product's bars on it, and only the comparison with the champion is under test
    bars = {"min_accuracy": 0, "min_macro_f1": 0, "min_auto_precision": 0, "min_automation_rate": 0}
    selection = (
        "group:raw or group:staged or group:stg or group:marts or group:features or group:router"
    )
    # the out-of-scope floor alone refuses a candidate: no router sends every message of an
    # intent it never learnt to a person
    warehouse.write_params(router={"gate": {**bars, "min_oos_recall": 1.0}})
    refused = check_evaluations(pipeline(selection))["router_clears_promotion_gate"]
    assert not refused.passed
    failures = refused.metadata["failures"].value
    assert failures.startswith("oos_recall ") and "below the bar 1.0000" in failures
    assert _champion("intent_router") == "1"
    # the fairness check reads the champion's unseen-intent routes, never a refused candidate's
    assert warehouse.query("select * from ml.router_open_set order by all") == champion_routes
    warehouse.write_params(router={"gate": {**bars, "min_oos_recall": 0}})
    result = pipeline(selection)
    gate = check_evaluations(result)["router_clears_promotion_gate"]
    observed = gate.metadata["observed"].value
    champion = gate.metadata["champion_metrics"].value
    assert observed["accuracy"] < 0.75  # far below the champion's figure from the old split
    assert champion["accuracy"] == pytest.approx(observed["accuracy"], abs=0.01)
    assert gate.passed, gate.metadata["failures"].value
    assert _champion("intent_router") == "2"


FORECAST_RUN = (
    "group:raw or group:staged or group:stg or group:marts or group:features or group:forecast"
)


@pytest.mark.starts_built
def test_a_forecast_champion_with_other_settings_is_backtested_again_on_the_candidates_data(
    warehouse, pipeline
):
    """New data and new settings: the champion's stored backtest was measured on the old data, so
    the gate backtests the champion's own settings on the candidate's extract. Training those
    settings on that extract afterwards gives the very figures the gate scored the champion at."""
    from ai_roi.defs.forecast.assets import NAME
    from tests.conftest import materialization_metadata

    tracking.use_store(settings.mlflow_tracking_uri(), settings.mlflow_artifacts(), NAME)
    stored = tracking.champion(NAME).metrics  # from the backtest on the first delivery
    # the same retailer's export, five weeks shorter, and a forecaster with a slower learning rate
    shorter = warehouse.root / "orders_to_october.csv.gz"
    with (
        gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8", newline="") as src,
        gzip.open(shorter, "wt", encoding="utf-8", newline="") as dst,
    ):
        rows = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        header = next(rows)
        writer.writerow(header)
        date = header.index("InvoiceDate")
        writer.writerows(r for r in rows if r[date] < "2011-11-01")
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(shorter)}]})
    warehouse.write_params(forecast={"model": {"learning_rate": 0.02}})
    result = pipeline(FORECAST_RUN)
    gate = check_evaluations(result)["forecaster_clears_promotion_gate"]
    champion = gate.metadata["champion_metrics"].value
    observed = gate.metadata["observed"].value
    assert set(champion) == {"wape_model", "mase_model"}
    for metric in champion:
        assert champion[metric] != pytest.approx(stored[metric], rel=1e-6), metric  # not old data
        assert champion[metric] != pytest.approx(observed[metric], rel=1e-6), metric  # not mine
    # the champion's settings trained on the shorter extract: the figures the gate re-scored
    warehouse.write_params()
    again = materialization_metadata(pipeline(FORECAST_RUN), "ml/demand_model")
    for metric in champion:
        assert again[metric] == pytest.approx(champion[metric], rel=1e-9), metric
