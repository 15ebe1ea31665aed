"""The raw and staged layers run in Dagster on PostgreSQL: the real definitions' raw and staged
groups (each source's load, its Pandera checks and monitors, its staging with the audit before it
publishes, the tickets reduced from the events, the quality history they write) materialised
with the warehouse resource on a throw-away server give the check results and the row accounting
they give on DuckDB."""

from __future__ import annotations

import dagster as dg
import psycopg

from ai_roi.definitions import build_resources
from ai_roi.defs import sources
from ai_roi.defs.tickets.assets import staged_tickets
from ai_roi.defs.tickets.checks import staged_tickets_checks
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


# what each warehouse names its own way: its delivery ids, and the staged assets' row accounting
# lists those
OWN_METADATA = {"load_id", "published_deliveries"}


def _without_ids(value):
    """A metadata value with every delivery's `load_id` left out (each warehouse has its own)."""
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "load_id"}
    return value


def _materialised(result: dg.ExecuteInProcessResult) -> dict:
    """Each asset's materialisation metadata but the ids each warehouse gives its deliveries."""
    return {
        e.asset_key.to_user_string(): {
            k: _without_ids(getattr(v, "value", v))
            for k, v in e.materialization.metadata.items()
            if k not in OWN_METADATA
        }
        for e in result.get_asset_materialization_events()
    }


def test_the_raw_and_staged_groups_run_on_postgres_with_the_results_they_have_on_duckdb(
    warehouse, server, monkeypatch
):
    on_duckdb = run_pipeline("group:raw or group:staged")
    assert on_duckdb.success

    args = server_database(server, "raw_group")
    for name, value in {**server, "PGDATABASE": args["dbname"]}.items():  # libpq's PG* variables
        monkeypatch.setenv(name, value)

    # the same source assets and checks as the code location's, the warehouse on the server
    on_server = dg.materialize(
        [*sources.assets, *sources.checks, staged_tickets, staged_tickets_checks],
        selection=dg.AssetSelection.groups("raw", "staged"),
        resources={**build_resources(), "duckdb": WarehouseResource(engine="postgres")},
        instance=dagster_instance(),
        raise_on_error=False,
    )
    assert on_server.success, [e.message for e in on_server.all_events if e.is_failure]
    ours, theirs = _results(on_duckdb), _results(on_server)
    assert len(ours) >= 20
    assert theirs == ours
    # what each asset published: rows in, clean, quarantined and by rule, flags, profiles
    assert _materialised(on_server) == _materialised(on_duckdb)
    assert _materialised(on_duckdb)["staged/order_lines"]["rows_quarantined"] > 0
    # the second run wrote to the server, and nothing to the DuckDB file
    with psycopg.connect(**args) as pg:
        loads = pg.execute("select count(*) from raw._loads").fetchone()[0]
        recorded = pg.execute("select count(distinct check_name) from quality.check_results")
        assert (loads, recorded.fetchone()[0]) == (3, len(ours))
    runs = warehouse.scalar("select count(distinct run_id) from quality.check_results")
    assert runs == 1
