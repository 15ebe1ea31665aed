"""`ai-roi run` (what `make run` calls) succeeds and its summary matches the warehouse."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from ai_roi import cli

pytestmark = pytest.mark.long


def test_run_prints_a_summary_that_matches_duckdb(warehouse, monkeypatch, capsys):
    """A whole run, a run with nothing changed, a refused delivery, a run of one view and a run of
    two groups, on one warehouse: what each prints, and the one audit row each run leaves."""
    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.root / "dagster_home"))
    monkeypatch.setenv("AI_ROI_LAUNCHED_BY", "auditor@test")
    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out
    _audited_whole_run(warehouse, out)

    stages = re.findall(r"^  (raw|staged|marts)\s+(\w+)\s+([\d,]+)$", out, flags=re.M)
    assert {stage for stage, _, _ in stages} == {"raw", "staged", "marts"}
    for stage, table, rows in stages:
        if stage == "raw":
            expected = warehouse.scalar(f"select count(*) from raw.{table}__current")
        else:
            expected = warehouse.scalar(f"select count(*) from {stage}.{table}")
        assert int(rows.replace(",", "")) == expected, (stage, table)

    held = re.findall(
        r"^  (\w+)\s+(\w+)\s+(\w+)\s+([\d,]+)$",
        out.split("Quarantined rows by rule")[1],
        flags=re.M,
    )
    in_db = warehouse.query(
        "select source, rule, dimension, count(*) from quarantine.rows group by all"
    )
    assert sorted((s, r, d, int(n.replace(",", ""))) for s, r, d, n in held) == sorted(in_db)

    checks = re.search(r"Checks: (\d+) run, (\d+) passed, (\d+) warned, (\d+) failed", out)
    run, passed, warned, failed = map(int, checks.groups())
    assert run == passed + warned + failed and failed == 0 and run > 50
    assert str(warehouse.db_path) in out
    assert "STALE" not in out

    # while it runs: a line per step (time, n of N, the asset); dbt's echo goes to the log file
    # whose path it printed first, not between those lines
    assert re.search(r"^\s+\d+:\d\d\s+\[\s*1/\d+\] \S+$", out, flags=re.M)
    assert re.search(r"^\s+\d+:\d\d\s+\[\s*\d+/\d+\] monthly_marts$", out, flags=re.M)
    log = re.search(r"^dbt's and the steps' output: (\S+)", out, flags=re.M).group(1)
    assert log.startswith(str(warehouse.root)) and "Running with dbt=" not in out
    assert "Running with dbt=" in Path(log).read_text(encoding="utf-8")

    # every published figure names the deliveries it comes from: the ones the staged layer holds,
    # which the dbt mart and the Python reader agree on
    import duckdb

    from ai_roi.lib import freshness
    from ai_roi.reports import roi_report

    metrics = warehouse.root / "outputs" / "metrics"
    with duckdb.connect(str(warehouse.db_path), read_only=True) as con:
        staged = freshness.staged_versions(con)
        in_mart = dict(
            con.execute("select source, fingerprint from marts.mart_data_versions").fetchall()
        )
        before = freshness.current_versions(con)
    assert in_mart == staged and set(staged) == {"order_lines", "messages", "ticket_events"}
    published = {
        name: json.loads((metrics / name).read_text())["data_versions"]
        for name in ("router.json", "forecast.json", "roi.json")
    }
    assert published["router.json"] == {"messages": staged["messages"]}
    assert published["forecast.json"] == {"order_lines": staged["order_lines"]}
    assert published["roi.json"] == staged
    page = warehouse.root / "outputs" / "reports" / "roi_report.html"
    assert 'class="stale"' not in page.read_text(encoding="utf-8")

    # a second run with nothing changed starts no Dagster run, writes nothing and says so, with
    # the first run's checks
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = len(instance.get_run_records())
    written = warehouse.db_path.stat().st_mtime_ns, page.stat().st_mtime_ns
    assert cli.main(["run"]) == 0
    again = capsys.readouterr().out
    assert "Nothing changed since the run that finished at" in again
    assert again.strip().endswith("Nothing to run.")
    assert checks.group(0) in again
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_run_records()) == runs
    assert (warehouse.db_path.stat().st_mtime_ns, page.stat().st_mtime_ns) == written

    # a new order delivery that is refused: the figures built from orders are no longer those of
    # the warehouse's data, and every place that shows them says so; the router's are still current
    from tests.conftest import FIXTURE_FILES, FIXTURES

    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as src:
        header = src.readline()
    header_only = warehouse.root / "orders_header_only.csv.gz"
    with gzip.open(header_only, "wt", encoding="utf-8") as dst:
        dst.write(header)
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(header_only)}]})
    assert cli.main(["run"]) == 1
    running = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("Running: ")
    )
    assert "order_lines: new file orders_header_only.csv.gz" in running
    assert "order_lines: file order_lines.csv.gz is gone" in running
    assert cli.main(["summary"]) == 0
    later = capsys.readouterr().out
    with duckdb.connect(str(warehouse.db_path), read_only=True) as con:
        now = freshness.current_versions(con)
    new, old = now["order_lines"][:12], staged["order_lines"][:12]
    assert new != old and now["messages"] == before["messages"]
    router_part, rest = later.split("demand forecaster")
    assert "STALE" not in router_part
    for what in ("metrics/forecast.json", "metrics/roi.json (and the ROI report and the export)"):
        assert f"order_lines: {what} comes from delivery {old}, the warehouse now holds {new}" in (
            rest
        )
    # the ROI page written before the refused delivery now carries the banner, naming both
    html = page.read_text(encoding="utf-8")
    banner = html.split(roi_report.FRESHNESS_START)[1].split(roi_report.FRESHNESS_END)[0]
    assert 'class="stale"' in banner and old in banner and new in banner
    assert "messages" not in banner
    # and loses it once the warehouse's deliveries are the page's again
    assert roi_report.restamp(page, before) is False
    assert 'class="stale"' not in page.read_text(encoding="utf-8")

    # --verbose: everything on the terminal as it comes, no progress lines
    only_a_view = 'key:"stg/stg_crm__messages"'
    assert cli.main(["run", "--verbose", "--select", only_a_view]) == 0
    verbose = capsys.readouterr().out
    assert "Running with dbt=" in verbose and not re.search(r"\[\s*1/\d+\]", verbose)

    # the good delivery again, and a run of two groups: it trains nothing and checks only them
    warehouse.write_catalog()
    assert cli.main(["run", "--select", "group:raw or group:staged"]) == 0
    rows = _audit_rows(warehouse)
    # one row per run that started Dagster runs: the run with nothing changed started none
    assert [(r[5], r[2]) for r in rows] == [
        ("*", "success"),
        ("*", "failure"),
        (only_a_view, "success"),
        ("group:raw or group:staged", "success"),
    ]
    whole, last = rows[0], rows[-1]
    assert json.loads(last[12]) == {} and json.loads(last[13]) == {}
    assert 0 < last[8] + last[9] < whole[8] + whole[9]


def _audit_rows(warehouse) -> list[tuple]:
    return warehouse.query(
        "select run_id, dagster_run_ids, status, launched_by, launcher, selection, git_commit,"
        " data_versions, checks_passed, checks_warned, checks_failed, rows_quarantined,"
        " models_trained, promotions from governance.audit_log order by started_at"
    )


def _audited_whole_run(warehouse, out: str) -> None:
    """The audit row of the first, whole run: who, how, what code and data, what it checked,
    held, trained and promoted."""
    import subprocess

    from tests.conftest import ROOT

    rows = _audit_rows(warehouse)
    assert len(rows) == 1
    (
        run_id,
        run_ids,
        status,
        who,
        how,
        selection,
        commit,
        versions,
        passed,
        warned,
        failed,
        quarantined,
        trained,
        promoted,
    ) = rows[0]
    assert status == "success" and who == "auditor@test" and selection == "*"
    assert how in {"cli", "ci"}
    # one invocation: the assets' two runs (the period marts and what they feed run apart,
    # tagged with the months they rewrite) and the reports' run after them
    assert len(run_ids) == 3 and run_id == run_ids[0]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert commit.removesuffix("-dirty") == head  # -dirty: uncommitted changes
    # the same check counts the summary printed (plus the report runs' own checks)
    shown = re.search(r"Checks: (\d+) run, (\d+) passed, (\d+) warned, (\d+) failed", out)
    assert passed >= int(shown.group(2)) and warned >= int(shown.group(3)) and failed == 0
    assert quarantined == warehouse.scalar("select count(*) from quarantine.rows")
    versions = json.loads(versions)
    assert {s: v["fingerprint"] for s, v in versions["sources"].items()} == dict(
        warehouse.query("select source, fingerprint from raw._loads where is_current")
    )
    assert set(json.loads(trained)) == {"intent_router", "demand_forecaster"}
    assert set(json.loads(promoted)) == {"intent_router", "demand_forecaster"}


def _hold_lock(path):
    """Another process holding the warehouse open for writing, as a running pipeline does."""
    from tests.conftest import HOLD_OPEN, hold_elsewhere

    return hold_elsewhere(HOLD_OPEN, path)


def test_runs_launched_outside_the_cli_are_audited_by_the_sensor(warehouse):
    import dagster as dg

    from ai_roi.definitions import defs
    from ai_roi.defs.governance.sensors import audit_runs
    from ai_roi.resources import duckdb_resource

    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(["raw", "order_lines"])]
    with dg.DagsterInstance.get() as instance:
        ui_run = job.execute_in_process(
            instance=instance, asset_selection=keys, tags={"dagster/user": "ana"}
        )
        cli_run = job.execute_in_process(
            instance=instance, asset_selection=keys, tags={"ai_roi/launcher": "cli"}
        )

        def tick(cursor):
            # the warehouse resource has a setup (a run takes its lock): open it as Dagster does
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"duckdb": duckdb_resource()}
            ) as context:
                outcome = audit_runs(context)
                return context.cursor, outcome

        # a run holds the warehouse: nothing is audited, and nothing is lost either
        holder = _hold_lock(warehouse.db_path)
        try:
            cursor, outcome = tick(None)
        finally:
            holder.kill()
            holder.wait()
        assert "warehouse busy" in outcome.skip_message
        assert cursor is None
        cursor, outcome = tick(cursor)
        assert ui_run.run_id in outcome.skip_message
        assert cli_run.run_id not in outcome.skip_message  # the CLI audits its own runs
        assert cursor is not None
        # a later tick finds nothing new: one row per run
        _, again = tick(cursor)
        assert "none new" in again.skip_message
    rows = warehouse.query(
        "select run_id, launched_by, launcher, selection, status, checks_passed + checks_warned"
        " from governance.audit_log"
    )
    checks = len(ui_run.get_asset_check_evaluations())
    assert checks > 0  # the raw checks of that run
    assert rows == [(ui_run.run_id, "ana", "dagster", "raw/order_lines", "success", checks)]


def test_a_refused_file_is_explained_once_without_a_trace(warehouse, capfd):
    from tests.conftest import FIXTURE_FILES, FIXTURES

    data = (FIXTURES / "order_lines.csv.gz").read_bytes()
    truncated = warehouse.root / "orders.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(truncated)}]})
    assert cli.main(["run", "--select", 'key:"raw/order_lines"']) == 1
    captured = capfd.readouterr()
    printed = captured.out + captured.err
    assert printed.count("cannot be read as csv") == 1, printed
    assert "Traceback" not in printed and "in ingest_raw" not in printed
    # --verbose shows the run's log, the stack frames included
    assert cli.main(["run", "--select", 'key:"raw/order_lines"', "--verbose"]) == 1
    verbose = capfd.readouterr()
    assert "in ingest_raw" in verbose.out + verbose.err


def test_a_failed_gate_prints_its_reason(warehouse, capsys):
    """params.yaml's own bars, as make ci holds them, refuse the forecaster trained on the
    fixtures: the summary says why, the gate names the bars, no version becomes champion.
    (The forecaster's chain only: the router and the ROI have no part in it.)"""
    import dagster as dg

    from ai_roi.lib.ml_assets import latest_completed_evaluation
    from tests.conftest import PRODUCT_PARAMS, mlflow_client

    warehouse.write_params(product_bars=True)
    # the forecaster's chain: its extract, not the router's messages and their embeddings
    chain = (
        'group:raw or group:staged or group:stg or group:marts or key:"ml/demand_history"'
        " or group:forecast"
    )
    assert cli.main(["run", "--select", chain]) == 1
    out = capsys.readouterr().out
    summary = out.split("\nChecks: ")[1]  # the check rows, not the progress lines above
    line = next(
        row
        for row in summary.splitlines()
        if "forecaster_clears_promotion_gate" in row and row.startswith("  failed ")
    )
    assert "abs_bias" in line and "is above the bar" in line
    # the bias bound: it under-forecasts the fixtures' sparse weeks far beyond max_abs_bias
    gate = dg.AssetCheckKey(dg.AssetKey(["ml", "demand_model"]), "forecaster_clears_promotion_gate")
    with dg.DagsterInstance.get() as instance:
        evaluation = latest_completed_evaluation(instance, gate)
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    assert evaluation.metadata["maximums"].value == {
        f"{k.removeprefix('max_')}": v
        for k, v in PRODUCT_PARAMS["forecast"]["gate"].items()
        if k.startswith("max_")
    }
    assert mlflow_client().get_registered_model("demand_forecaster").aliases == {}


def test_a_second_run_refuses_at_once_and_names_the_first(warehouse, monkeypatch, capsys):
    """Two `ai-roi run`s on one warehouse: the second starts nothing and says who holds it; the
    lock goes with its holder, however that one ends."""
    from ai_roi.lib import run_lock
    from tests.conftest import HOLD_RUN_LOCK, dagster_instance, hold_elsewhere

    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.root / "dagster_home"))
    holder = hold_elsewhere(HOLD_RUN_LOCK, warehouse.db_path)
    try:
        assert cli.main(["run"]) == 1
        out = capsys.readouterr().out
        assert "Not started: another pipeline run is using the warehouse" in out
        assert f"pid {holder.pid}" in out and "selection 'group:raw'" in out
        assert list(dagster_instance().get_runs()) == []  # nothing ran
        assert not warehouse.db_path.exists()  # nothing was written
    finally:
        holder.kill()  # as kill -9: the operating system drops the lock with the process
        holder.wait()
    with run_lock.exclusive_run(warehouse.db_path, None):
        pass


def test_the_summary_during_a_run_says_the_warehouse_is_busy(warehouse, capsys):
    holder = _hold_lock(warehouse.db_path)
    try:
        assert cli.main(["summary"]) == 0
        out = capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()
    assert out.startswith("No summary now: the warehouse")
    assert f"open for writing by process {holder.pid}" in out
    assert "Traceback" not in out


def test_the_summary_of_a_duckdb_file_the_pipeline_never_ran_on_says_so(warehouse, capsys):
    """AI_ROI_DUCKDB_PATH at a DuckDB file of something else (or made by hand): the summary says
    what it found and what to do, and leaves the file as it was."""
    import duckdb

    with duckdb.connect(str(warehouse.db_path)) as con:
        con.execute("create table notes as select 'kept' as text")
    assert cli.main(["summary"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"No pipeline tables in {warehouse.db_path}")
    assert "make run" in out
    assert warehouse.query("select * from notes") == [("kept",)]
    assert warehouse.query("select schema_name, table_name from duckdb_tables() order by all") == [
        ("main", "notes")
    ]
