"""Dagster and MLflow as shared services on PostgreSQL: `ai-roi run` with Dagster's run, event and
schedule storage in one database (config/dagster.postgres.yaml) and MLflow behind a tracking
server whose backend store is another database and whose artifacts it keeps itself.

Real parts: a throw-away PostgreSQL 15 on 127.0.0.1 (scripts/local_postgres.py) and `mlflow
server` in its own process; the warehouse stays the embedded DuckDB file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from ai_roi import cli
from scripts import local_postgres
from scripts.ports import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.long

DAGSTER_DB, MLFLOW_DB = "dagster", "mlflow"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """PostgreSQL with a database for Dagster and one for MLflow, and an MLflow tracking server
    on the latter: (PG* variables, the server's URI, the server's artifact folder)."""
    with local_postgres.running() as env:
        with psycopg.connect(**local_postgres.connect_args(env)) as con:
            con.autocommit = True
            for name in (DAGSTER_DB, MLFLOW_DB):
                con.execute(f"create database {name}")
        artifacts = tmp_path_factory.mktemp("mlflow_server") / "artifacts"
        port = free_port()
        backend = (
            f"postgresql+psycopg://{env['PGUSER']}:{env['PGPASSWORD']}"
            f"@{env['PGHOST']}:{env['PGPORT']}/{MLFLOW_DB}"
        )
        log = tmp_path_factory.mktemp("mlflow_log") / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "mlflow"), "server"]
                + ["--backend-store-uri", backend, "--artifacts-destination", str(artifacts)]
                + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        uri = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "mlflow server did not answer in 120 s"
                time.sleep(0.5)
            yield env, uri, artifacts
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_a_run_keeps_its_history_in_postgres_and_its_models_behind_the_mlflow_server(
    warehouse, services, monkeypatch, capsys
):
    env, uri, artifacts = services
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AI_ROI_DAGSTER_YAML", str(ROOT / "config" / "dagster.postgres.yaml"))
    monkeypatch.setenv("AI_ROI_DAGSTER_PG_DATABASE", DAGSTER_DB)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("AI_ROI_MLFLOW_ARTIFACTS", raising=False)

    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out
    checks = int(re.search(r"Checks: (\d+) run", out).group(1))
    assert checks > 100, out

    # Dagster: the instance is the PostgreSQL one, and the run and its check results are there
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    with psycopg.connect(**local_postgres.connect_args(env, DAGSTER_DB)) as con:
        runs = con.execute("select status from runs").fetchall()
        evaluations = con.execute(
            "select count(*) from event_logs where dagster_event_type = 'ASSET_CHECK_EVALUATION'"
        ).fetchone()[0]
    assert runs and {status for (status,) in runs} == {"SUCCESS"}, runs
    assert evaluations >= checks

    # MLflow: runs, registered models and the champion alias in PostgreSQL, artifacts kept by
    # the server (the client never wrote a local path)
    with psycopg.connect(**local_postgres.connect_args(env, MLFLOW_DB)) as con:
        mlflow_runs = con.execute("select count(*) from runs").fetchone()[0]
        models = dict(con.execute("select name, alias from registered_model_aliases").fetchall())
        locations = {loc for (loc,) in con.execute("select artifact_location from experiments")}
    assert mlflow_runs >= 2
    assert set(models) == {"intent_router", "demand_forecaster"}
    assert locations and all(loc.startswith("mlflow-artifacts:") for loc in locations), locations
    assert any(p.name == "MLmodel" for p in artifacts.rglob("MLmodel"))
    # the champions were exported through the server into the outputs DVC versions
    assert (warehouse.root / "outputs" / "models").is_dir()
    assert any((warehouse.root / "outputs" / "models").rglob("MLmodel"))

    # a second run reads that history back and finds nothing to do
    assert cli.main(["run"]) == 0
    assert "Nothing changed since the run" in capsys.readouterr().out


KEY = "the same pseudonym key for both warehouses"


def test_the_whole_chain_runs_on_postgres_and_builds_the_marts_duckdb_builds(
    warehouse, services, monkeypatch, capsys
):
    """`ai-roi run` with the warehouse on PostgreSQL (AI_ROI_WAREHOUSE=postgres; dbt's postgres
    target), Dagster's storage and MLflow there too, from the same deliveries as a run on the
    DuckDB file: every mart holds the same rows, or the test names the mart and its first
    differing row."""
    import duckdb

    from ai_roi.lib import postgres

    env, uri, _ = services
    monkeypatch.setenv("AI_ROI_PSEUDONYM_KEY", KEY)
    assert cli.main(["run"]) == 0  # the DuckDB file, Dagster and MLflow in local files
    capsys.readouterr()

    with psycopg.connect(**local_postgres.connect_args(env)) as con:
        con.autocommit = True
        for name in ("warehouse", "dagster_chain"):
            con.execute(f"create database {name}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    server = warehouse.root / "on_server"
    for name, value in {
        "PGDATABASE": "warehouse",
        "AI_ROI_WAREHOUSE": "postgres",
        "AI_ROI_STATE_DIR": str(server / "state"),
        "AI_ROI_OUTPUT_DIR": str(server / "outputs"),
        "DAGSTER_HOME": str(server / "dagster_home"),
        "AI_ROI_DAGSTER_YAML": str(ROOT / "config" / "dagster.postgres.yaml"),
        "AI_ROI_DAGSTER_PG_DATABASE": "dagster_chain",
        "MLFLOW_TRACKING_URI": uri,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AI_ROI_MLFLOW_ARTIFACTS", raising=False)
    monkeypatch.delenv("AI_ROI_DUCKDB_PATH", raising=False)
    # dbt's target follows the engine (`make test` exports DBT_TARGET=dev, which is refused)
    monkeypatch.delenv("DBT_TARGET", raising=False)

    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out
    assert "Warehouse: PostgreSQL database warehouse on 127.0.0.1" in out, out
    assert int(re.search(r"Checks: (\d+) run", out).group(1)) > 100
    assert not (server / "state" / "warehouse.duckdb").exists()  # nothing went to a file

    with (
        duckdb.connect(str(warehouse.db_path), read_only=True) as duck,
        psycopg.connect(**local_postgres.connect_args(env, "warehouse")) as pg,
    ):
        marts = [
            t
            for (t,) in duck.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
                " order by 1"
            ).fetchall()
        ]
        assert len(marts) >= 15, marts
        found = [
            postgres.first_difference(duck, pg, "marts", m, postgres.BUILD_OWN_COLUMNS)
            for m in marts
        ]
        assert [d for d in found if d] == []
        # the comparison sees a changed value in a mart's own columns
        pg.execute(
            "update marts.mart_demand_weekly set net_units = net_units + 1"
            " where ctid = (select ctid from marts.mart_demand_weekly limit 1)"
        )
        changed = postgres.first_difference(
            duck, pg, "marts", "mart_demand_weekly", postgres.BUILD_OWN_COLUMNS
        )
        assert changed and "net_units" in changed, changed
        pg.rollback()

    # the runs and check results in PostgreSQL, the models' runs behind the MLflow server
    with psycopg.connect(**local_postgres.connect_args(env, "dagster_chain")) as con:
        statuses = {s for (s,) in con.execute("select status from runs").fetchall()}
    assert statuses == {"SUCCESS"}, statuses
    with psycopg.connect(**local_postgres.connect_args(env, MLFLOW_DB)) as con:
        assert con.execute("select count(*) from runs").fetchone()[0] >= 2
