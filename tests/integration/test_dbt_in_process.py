"""dbt run inside the step's process reports what a dbt process reports, and leaves the warehouse
as a dbt process leaves it (ai_roi/lib/dbt_in_process.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from ai_roi.defs.marts.project import dbt_resource
from ai_roi.lib import dbt_in_process
from ai_roi.lib.dbt_in_process import DbtProcess

# What the pipeline's dbt_models step builds: the staging views, the KPI marts and their tests
KPI_BUILD = ["build", "--exclude", "tag:roi tag:monthly"]


def _invoke(args: list[str], in_process: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AI_ROI_DBT_IN_PROCESS", "1" if in_process else "0")
    invocation = dbt_resource().cli(args, raise_on_error=False)
    events = list(invocation.stream_raw_events())
    assert isinstance(invocation.process, DbtProcess) == in_process
    return invocation, events


def _outcomes(events) -> dict[str, str]:
    """Each node dbt reported a result of (the events Dagster's assets and checks come from),
    by unique id: its status."""
    return {
        event.raw_event["data"]["node_info"]["unique_id"]: event.raw_event["data"]["node_info"][
            "node_status"
        ]
        for event in events
        if event.is_result_event
    }


def _both(args: list[str], monkeypatch: pytest.MonkeyPatch):
    return [_invoke(args, flag, monkeypatch) for flag in (False, True)]


def test_a_build_reports_the_same_nodes_and_results_in_process(built, monkeypatch):
    (process, process_events), (here, here_events) = _both(KPI_BUILD, monkeypatch)
    assert process.is_successful() and here.is_successful()
    statuses = _outcomes(here_events)
    # the staging views, KPI marts and their tests
    assert {node.split(".")[0] for node in statuses} == {"model", "test"}
    assert statuses == _outcomes(process_events)
    # the artifacts dbt writes are written alike
    assert [r["unique_id"] for r in here.get_artifact("run_results.json")["results"]] == [
        r["unique_id"] for r in process.get_artifact("run_results.json")["results"]
    ]


def test_a_failing_test_fails_the_invocation_alike(built, monkeypatch):
    wh, _ = built
    with duckdb.connect(str(wh.db_path)) as con:
        # an order line twice: the staging's unique key test fails
        con.execute("insert into staged.order_lines select * from staged.order_lines limit 1")
    (process, process_events), (here, here_events) = _both(KPI_BUILD, monkeypatch)
    failed = {node for node, status in _outcomes(here_events).items() if status == "fail"}
    assert failed and failed == {
        node for node, status in _outcomes(process_events).items() if status == "fail"
    }
    assert not here.is_successful() and not process.is_successful()
    assert here.process.returncode == process.process.returncode == 1
    assert "failed with exit code `1`" in str(here.get_error())


def test_an_unusable_command_fails_with_dbts_reason(built, monkeypatch, capsys):
    process, _ = _invoke(["build", "--no-such-option"], False, monkeypatch)
    capsys.readouterr()
    here, _ = _invoke(["build", "--no-such-option"], True, monkeypatch)
    assert not process.is_successful() and not here.is_successful()
    assert here.process.returncode == process.process.returncode == 2
    # the reason is in the step's log, where dagster-dbt prints what dbt printed
    assert "No such option '--no-such-option'" in capsys.readouterr().out


def test_the_warehouse_is_free_for_this_process_and_others_after_dbt(built, monkeypatch):
    wh, _ = built
    _invoke(["run", "--select", "stg_erp__order_lines"], True, monkeypatch)
    # another process writes to it (DuckDB lets one process at a time open a file for writing)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('checkpoint')",
        ]
        + [str(wh.db_path)],
        check=True,
    )
    # and this process opens it with a configuration of its own (read-only), which DuckDB
    # refuses while dbt-duckdb's own connection is open
    with duckdb.connect(str(wh.db_path), read_only=True) as con:
        assert con.execute("select count(*) from stg.stg_erp__order_lines").fetchone()[0] > 0


def test_dbt_sees_the_step_environment_and_the_process_keeps_its_own(built, monkeypatch):
    """The environment dagster-dbt gives dbt (target folder, profile directory) holds while dbt
    runs, and the process's environment is as it was afterwards."""
    monkeypatch.setenv("AI_ROI_SOME_SETTING", "kept")
    before = dict(os.environ)
    invocation, _ = _invoke(["run", "--select", "stg_erp__order_lines"], True, monkeypatch)
    after = dict(os.environ)
    # AI_ROI_DBT_IN_PROCESS is the only difference: _invoke set it
    assert {k: v for k, v in after.items() if k != "AI_ROI_DBT_IN_PROCESS"} == {
        k: v for k, v in before.items() if k != "AI_ROI_DBT_IN_PROCESS"
    }
    # dbt wrote its artifacts and its log where dagster-dbt told it to
    assert (invocation.target_path / "run_results.json").exists()
    assert (invocation.target_path / "dbt.log").exists()


def test_in_process_refuses_a_dagster_dbt_that_no_longer_starts_dbt_with_popen(monkeypatch):
    from dagster_dbt.core import dbt_cli_invocation

    monkeypatch.setattr(dbt_cli_invocation, "subprocess", object())
    with pytest.raises(RuntimeError, match="AI_ROI_DBT_IN_PROCESS=0"), dbt_in_process.in_process():
        pass


def test_environment_sets_removes_and_restores(monkeypatch):
    monkeypatch.setenv("AI_ROI_KEPT", "1")
    monkeypatch.setenv("AI_ROI_DROPPED_INSIDE", "2")
    before = dict(os.environ)
    inside = {k: v for k, v in before.items() if k != "AI_ROI_DROPPED_INSIDE"}
    with dbt_in_process.environment({**inside, "AI_ROI_ADDED": "3"}):
        assert os.environ["AI_ROI_ADDED"] == "3"
        assert "AI_ROI_DROPPED_INSIDE" not in os.environ
        os.environ["AI_ROI_SET_BY_DBT"] = "4"
    assert dict(os.environ) == before
