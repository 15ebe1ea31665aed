"""The raw layer runs in Dagster on PostgreSQL: the real definitions' raw group (each source's
load, its Pandera checks and its monitors, with the quality history they write) materialised
with the warehouse resource on a throw-away server gives the check results it gives on DuckDB."""

from __future__ import annotations

import dagster as dg
import psycopg

from ai_roi.definitions import build_resources
from ai_roi.defs import sources
from ai_roi.resources import WarehouseResource
from tests.conftest import dagster_instance, run_pipeline, server_database


def _results(result: dg.ExecuteInProcessResult) -> dict:
    """Each check's verdict and figures: its samples and the delivery ids left out (each
    warehouse has its own), and its quality history (the two warehouses' runs differ)."""
    out = {}
    for evaluation in result.get_asset_check_evaluations():
        meta = {
            k: getattr(v, "value", v)
            for k, v in evaluation.metadata.items()
            if k not in ("failure_samples", "quality_history", "summary")
        }
        out[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = (
            evaluation.passed,
            evaluation.severity,
            meta,
        )
    return out


def test_the_raw_group_runs_on_postgres_with_the_check_results_it_has_on_duckdb(
    warehouse, server, monkeypatch
):
    on_duckdb = run_pipeline("group:raw")
    assert on_duckdb.success

    args = server_database(server, "raw_group")
    for name, value in {**server, "PGDATABASE": args["dbname"]}.items():  # libpq's PG* variables
        monkeypatch.setenv(name, value)

    # the same source assets and checks as the code location's, the warehouse on the server
    on_server = dg.materialize(
        [*sources.assets, *sources.checks],
        selection=dg.AssetSelection.groups("raw"),
        resources={**build_resources(), "duckdb": WarehouseResource(engine="postgres")},
        instance=dagster_instance(),
        raise_on_error=False,
    )
    assert on_server.success, [e.message for e in on_server.all_events if e.is_failure]
    ours, theirs = _results(on_duckdb), _results(on_server)
    assert len(ours) >= 9
    assert theirs == ours
    # the second run wrote to the server, and nothing to the DuckDB file
    with psycopg.connect(**args) as pg:
        loads = pg.execute("select count(*) from raw._loads").fetchone()[0]
        recorded = pg.execute("select count(distinct check_name) from quality.check_results")
        assert (loads, recorded.fetchone()[0]) == (3, len(ours))
    runs = warehouse.scalar("select count(distinct run_id) from quality.check_results")
    assert runs == 1
