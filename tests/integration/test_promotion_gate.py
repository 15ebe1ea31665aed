"""The promotion gates judge the whole graph and the data the model learned from, whatever ran."""

from __future__ import annotations

import gzip

import pytest

from dagster_project import settings
from dagster_project.ml import tracking
from tests.conftest import FIXTURE_FILES, FIXTURES, check_evaluations


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
def trained(tmp_path_factory):
    """A warehouse with both champions, after a run that failed before its raw checks ran."""
    from tests.conftest import make_warehouse, run_pipeline

    with pytest.MonkeyPatch.context() as mp:
        wh = make_warehouse(tmp_path_factory.mktemp("gate"), mp)
        assert run_pipeline().success
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
    from tests.conftest import run_pipeline

    result = run_pipeline(f"group:{group}")
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

    from dagster_project.definitions import defs
    from tests.conftest import run_pipeline

    wh.write_catalog()  # the good fixtures again
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(["raw", "messages"])}, asset_check_selection=set()
    )
    with dg.DagsterInstance.get() as instance:
        unchecked = job.execute_in_process(instance=instance)
    assert unchecked.success and not unchecked.get_asset_check_evaluations()
    result = run_pipeline("group:router")
    evaluation = check_evaluations(result)["router_clears_promotion_gate"]
    assert not evaluation.passed
    assert "has no result for the latest materialisation of raw/messages" in (
        evaluation.metadata["failures"].value
    )
    assert _champion("intent_router") == champions["intent_router"]
