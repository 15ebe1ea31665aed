"""The marts published to a PostgreSQL server for BI tools (AI_ROI_MARTS_SERVER=postgres).

`exports/marts` copies every mart of the DuckDB warehouse built on the fixtures (`built`) to a
real throw-away PostgreSQL (scripts/local_postgres.py), behind a read-only role; what consumers
built on the server survives the next publish, and a publish that cannot complete changes
nothing there.
"""

from __future__ import annotations

import duckdb
import psycopg
import pytest

from ai_roi import settings
from ai_roi.lib import postgres
from scripts import local_postgres
from scripts.ports import free_port
from tests.conftest import materialization_metadata, run_pipeline

READER, READER_PASSWORD = "bi_reader", "reads-marts-only"
EXPORT = "key:exports/marts"


@pytest.fixture(scope="module")
def server(server):
    """The module's server (tests/conftest.py), with the consumers' role a database
    administrator would make: it can log in, nothing more."""
    with psycopg.connect(**local_postgres.connect_args(server), autocommit=True) as pg:
        pg.execute(f"create role {READER} login password '{READER_PASSWORD}'")
    return server


@pytest.fixture
def publishing(built, server, monkeypatch):
    """The built warehouse, with exports/marts publishing to the server as a deployment sets it."""
    for name, value in server.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AI_ROI_MARTS_SERVER", "postgres")
    monkeypatch.setenv("AI_ROI_PG_READER_ROLE", READER)
    return built[0]


def _marts(wh) -> dict[str, str]:
    """Every relation of the warehouse's marts schema, with its type (BASE TABLE or VIEW)."""
    with duckdb.connect(str(wh.db_path), read_only=True) as con:
        return dict(
            con.execute(
                "select table_name, table_type from information_schema.tables"
                " where table_schema = 'marts' order by 1"
            ).fetchall()
        )


def _failure(result) -> str:
    """The message of the step that failed in a run."""
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.step_failure_data.error.message


def _server(server, **login):
    return psycopg.connect(**{**local_postgres.connect_args(server), **login}, autocommit=True)


def test_every_mart_is_published_as_the_warehouse_holds_it_and_readers_can_only_read(
    publishing, server
):
    result = run_pipeline(EXPORT)
    assert result.success
    marts = _marts(publishing)
    assert len(marts) > 10
    published = materialization_metadata(result, "exports/marts")["published_to_server"]
    assert sorted(published) == sorted(marts)
    # the server holds what the export file holds: the marts as the step read them (the
    # quality views go on to count this run's own checks in the warehouse)
    with (
        duckdb.connect(str(settings.export_path()), read_only=True) as duck,
        _server(server) as pg,
    ):
        assert postgres.differences(duck, pg, [("marts", m) for m in marts]) == []
        for mart, rows in published.items():
            assert duck.execute(f'select count(*) from marts."{mart}"').fetchone()[0] == rows
        # a publish never leaves its scratch tables behind
        left = pg.execute(
            "select count(*) from pg_tables where schemaname = 'marts' and tablename like '%publishing'"
        ).fetchone()[0]
        assert left == 0
    with _server(server, user=READER, password=READER_PASSWORD) as bi:
        assert bi.execute("select count(*) from marts.mart_roi_summary").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("delete from marts.mart_roi_summary")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("create table marts.mine (x int)")


def test_a_consumers_view_survives_a_publish_and_a_publish_that_would_break_it_changes_nothing(
    publishing, server
):
    assert run_pipeline(EXPORT).success
    table = next(m for m, kind in _marts(publishing).items() if kind == "BASE TABLE")
    with _server(server) as pg:
        pg.execute(f'create view public.bi_rows as select count(*) as n from marts."{table}"')
        pg.execute(f"grant select on public.bi_rows to {READER}")
    assert run_pipeline(EXPORT).success  # the same columns: the view's table stays
    with _server(server, user=READER, password=READER_PASSWORD) as bi:
        rows_before = bi.execute("select n from public.bi_rows").fetchone()[0]
    assert rows_before > 0
    export_before = settings.export_path().stat().st_mtime_ns

    # the mart gains a column and loses its rows: the view built on it would break
    with duckdb.connect(str(publishing.db_path)) as con:
        con.execute(f'create table marts._kept as select * from marts."{table}"')
        con.execute(f'alter table marts."{table}" add column added integer')
        con.execute(f'delete from marts."{table}"')
    try:
        result = run_pipeline(EXPORT)
        assert not result.success
        message = _failure(result)
        assert "public.bi_rows" in message and f"marts.{table}" in message, message
        with _server(server, user=READER, password=READER_PASSWORD) as bi:
            assert bi.execute("select n from public.bi_rows").fetchone()[0] == rows_before
            columns = bi.execute(
                "select count(*) from information_schema.columns where table_schema = 'marts'"
                " and table_name = %s and column_name = 'added'",
                (table,),
            ).fetchone()[0]
            assert columns == 0
        # neither does the export file change: consumers of both see the same marts
        assert settings.export_path().stat().st_mtime_ns == export_before
    finally:
        with duckdb.connect(str(publishing.db_path)) as con:
            con.execute(f'drop table marts."{table}"')
            con.execute(f'alter table marts._kept rename to "{table}"')


def test_a_server_that_cannot_be_reached_fails_the_export_naming_the_settings(
    publishing, monkeypatch
):
    monkeypatch.setenv("PGPORT", str(free_port()))  # nothing listens there
    export_before = settings.export_path().stat().st_mtime_ns
    result = run_pipeline(EXPORT)
    assert not result.success
    message = _failure(result)
    assert "cannot connect to the marts server" in message and "PGPORT" in message, message
    assert settings.export_path().stat().st_mtime_ns == export_before
