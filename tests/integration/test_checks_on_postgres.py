"""The checks on PostgreSQL: a table on a server is validated by the same Pandera schemas and rule
books as in DuckDB (lib.rules.validate_table reads its rows in Arrow batches from either engine),
with the same verdicts, counts and samples, its samples leave raw protected alike and its
results go into the quality history alike; the raw layer's monitors (schema change, delivery
volume) find what they find in DuckDB.

The three sources' fixtures are loaded into a DuckDB file and a real throw-away PostgreSQL
(scripts/local_postgres.py) by the same raw load (lib/warehouse.py), then checked on each.
"""

from __future__ import annotations

import gzip
import re
from datetime import datetime

import duckdb
import polars as pl
import psycopg
import pytest
import yaml
from polars.testing import assert_frame_equal

from ai_roi.defs.sources import SOURCES
from ai_roi.lib import freshness, monitors, postgres
from ai_roi.lib.checks import schema_results
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.history import from_result, record
from ai_roi.lib.pii import PERSONAL_COLUMNS, protect_rows
from ai_roi.lib.rules import Report, validate_table
from ai_roi.lib.staging import (
    prepare_staging,
    publish_staging,
    register_privacy,
    work_tables,
)
from ai_roi.lib.warehouse import (
    engine_of,
    fetch_dicts,
    has_quality_mart,
    has_table,
    load_source,
    parsed_json,
    read_batches,
    read_frame,
    rebuild_table,
    relation_columns,
)
from ai_roi.params import VolumeParams
from ai_roi.sources import SourceCatalog, load_catalog
from scripts.ci_config import catalog_dict
from tests.conftest import FIXTURES, PRODUCT_PARAMS, server_database

KEY = "a test key, not a secret"
# a delivery's id and the moment it was loaded are each warehouse's own
OWN = {"_load_id", "_loaded_at"}
LOAD_ID = re.compile(r"load [0-9a-f]{8}")
VOLUME = VolumeParams(**PRODUCT_PARAMS["quality"]["volume"])


def _stage(con, catalog: SourceCatalog, name: str, run_id: str = "run-1"):
    """Stage a source's deliveries in play on `con` (either engine), as the staged asset does."""
    with work_tables(con, name):
        candidate = prepare_staging(
            con,
            source=name,
            rulebook=SOURCES[name].quarantine_rules,
            config=getattr(catalog, name),
            pseudonym_key=KEY,
            now=datetime.now(),
        )
        return publish_staging(con, candidate, run_id=run_id)


@pytest.fixture(scope="module")
def loaded(server, tmp_path_factory):
    """(DuckDB, PostgreSQL, catalogue): every source's fixtures loaded into both and staged on
    each, the tickets reduced from the staged events on each."""
    root = tmp_path_factory.mktemp("checks_on_postgres")
    path = root / "sources.yaml"
    path.write_text(yaml.safe_dump(catalog_dict()), encoding="utf-8")
    catalog = load_catalog(path)
    with (
        duckdb.connect(str(root / "warehouse.duckdb")) as duck,
        psycopg.connect(**server_database(server, "checks")) as connection,
    ):
        pg = postgres.Warehouse(connection)
        for name in SOURCES:
            for con in (duck, pg):
                load_source(con, name, getattr(catalog, name), "run-1")
        for name in SOURCES:
            for con in (duck, pg):
                _stage(con, catalog, name)
        for con in (duck, pg):
            rebuild_table(con, "staged.tickets", render(engine_of(con), "staging_tickets"))
        yield duck, pg, catalog


def _report(con, name: str, catalog: SourceCatalog, **options) -> Report:
    rules = SOURCES[name].rules
    return validate_table(
        con, f"raw.{name}__current", rules.raw_schema(catalog), rules.RAW_RULES, **options
    )


def _outcomes(report: Report, samples: bool = True) -> dict:
    """Per rule and column: failures, distinct keys, and the samples without either
    warehouse's own ids and times."""
    return {
        o.label: (
            o.failures,
            o.distinct_keys,
            [{k: v for k, v in row.items() if k not in OWN} for row in o.sample]
            if samples
            else None,
        )
        for o in report.outcomes
    }


def test_the_data_versions_of_the_deliveries_on_postgres_are_duckdbs(loaded):
    """What a figure says it was computed from, and what makes it stale, reads the same server."""
    duck, pg, _ = loaded
    versions = freshness.current_versions(duck)
    assert sorted(versions) == sorted(SOURCES)
    assert freshness.current_versions(pg) == versions


# the staged tables, each sorted by what identifies its rows
STAGED_ORDER = {
    **dict.fromkeys(SOURCES, ["_partition", "_source_file", "_row_number"]),
    "tickets": ["ticket_id"],
}


@pytest.mark.parametrize("name", sorted(STAGED_ORDER))
def test_staging_on_postgres_publishes_the_rows_staging_publishes_in_duckdb(loaded, name):
    """The staged layer's SQL (dbt/macros/staging/, rendered by dbt for each engine) stages the
    same deliveries into the same rows, typed alike, on both: every value of every column but
    each warehouse's own delivery ids and times, pseudonyms included (the same key)."""
    duck, pg, _ = loaded
    columns = [c for c in relation_columns(duck, f"staged.{name}") if c not in OWN]
    assert relation_columns(pg, f"staged.{name}") == relation_columns(duck, f"staged.{name}")
    sql = f"select {', '.join(columns)} from staged.{name}"
    ours = read_frame(duck, sql).sort(STAGED_ORDER[name])
    theirs = read_frame(pg, sql).sort(STAGED_ORDER[name])
    assert ours.height > 0
    assert_frame_equal(theirs, ours)


def test_staging_on_postgres_quarantines_the_rows_staging_quarantines_in_duckdb(loaded):
    """The same rows held back for the same rules and reasons, their delivered values leaving
    raw protected alike (personal identifiers pseudonymised, free text redacted)."""
    duck, pg, _ = loaded

    def quarantined(con) -> list[tuple]:
        rows = fetch_dicts(
            con,
            "select source, run_id, source_file, partition, source_row, rule, dimension, reason,"
            " all_rules, record from quarantine.rows",
        )
        return sorted(
            (
                *(row[k] for k in list(row)[:-2]),
                list(row["all_rules"]),
                [(k, v) for k, v in parsed_json(row["record"]).items() if k not in OWN],
            )
            for row in rows
        )

    ours, theirs = quarantined(duck), quarantined(pg)
    assert theirs == ours
    # every source held rows back, for more than one rule, with records to compare
    assert {row[0] for row in ours} == set(SOURCES) - {"messages"}
    assert len({row[5] for row in ours}) > 3
    assert all(row[-1] for row in ours)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_raw_table_on_postgres_gets_the_verdicts_counts_and_samples_it_gets_in_duckdb(
    loaded, name
):
    duck, pg, catalog = loaded
    ours, theirs = _report(duck, name, catalog), _report(pg, name, catalog)
    assert theirs.rows_checked == ours.rows_checked > 0
    assert _outcomes(theirs) == _outcomes(ours)
    assert (theirs.failed_rows, theirs.row_failures) == (ours.failed_rows, ours.row_failures)
    assert theirs.columns == ours.columns
    # the comparison saw rules fail, with samples, not only clean tables
    assert any(o.failures and o.sample for o in ours.outcomes), name


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_staged_table_on_postgres_gets_the_audit_it_gets_in_duckdb(loaded, name):
    """Typed columns (money as numeric(18, 4), timestamps, booleans) read back as DuckDB reads
    them, so the staged schema's types and rules judge them alike, whole and in parts split by
    the row's identity (the server's own hash)."""
    duck, pg, catalog = loaded
    rules = SOURCES[name].rules
    schema = rules.staged_schema(catalog)
    table = f"staged.{name}"
    ours = validate_table(duck, table, schema, rules.STAGED_RULES)
    theirs = validate_table(pg, table, schema, rules.STAGED_RULES)
    assert theirs.rows_checked == ours.rows_checked > 0
    assert _outcomes(theirs) == _outcomes(ours)
    assert (theirs.failed_rows, theirs.columns) == (ours.failed_rows, ours.columns)
    in_parts = validate_table(pg, table, schema, rules.STAGED_RULES, chunk_rows=500)
    assert _outcomes(in_parts, samples=False) == _outcomes(ours, samples=False)
    assert in_parts.failed_rows == ours.failed_rows
    # the staged monitors of a time-based table find the same
    time_column = SOURCES[name].time_column
    if time_column:
        cadence = getattr(catalog, name).freshness
        found = [
            [
                (f.passed, f.summary, f.observed, f.table)
                for f in (
                    monitors.freshness(con, table, time_column, cadence),
                    monitors.monthly_volume(con, table, time_column, VOLUME),
                )
            ]
            for con in (duck, pg)
        ]
        assert found[1] == found[0]
        assert found[0][1][3]  # months were counted


def test_a_large_table_validated_in_parts_on_postgres_counts_what_one_frame_counts(loaded):
    """Validated in parts (a copy on the server, rows split by the server's own hash), the order
    lines' rules count on PostgreSQL what they count over the whole table at once in DuckDB."""
    duck, pg, catalog = loaded
    whole = _report(duck, "order_lines", catalog)
    parts = _report(pg, "order_lines", catalog, chunk_rows=1_000)
    assert whole.rows_checked > 4 * 1_000  # several batches, and the compared rules in parts
    assert _outcomes(parts, samples=False) == _outcomes(whole, samples=False)
    assert (parts.failed_rows, parts.row_failures) == (whole.failed_rows, whole.row_failures)
    # the scratch copy is gone
    assert not pg.execute(
        "select count(*) from information_schema.tables where table_name like '\\_validating%'"
    ).fetchone()[0]


def test_raw_check_results_on_postgres_are_duckdbs_and_their_samples_leave_raw_protected(
    loaded,
):
    duck, pg, catalog = loaded
    for name, source in SOURCES.items():
        options = {
            "asset_key": source.raw_key,
            "prefix": f"raw_{name}",
            "table": f"raw.{name}__current",
            "rulebook": source.rules.RAW_RULES,
            "schema": source.rules.raw_schema,
            "raw_of": name,
        }
        ours = schema_results(duck, catalog, KEY, **options)
        theirs = schema_results(pg, catalog, KEY, **options)

        def summary(results):
            return [
                (
                    r.check_name,
                    r.passed,
                    r.severity,
                    {k: v for k, v in r.metadata.items() if k != "failure_samples"},
                )
                for r in results
            ]

        assert summary(theirs) == summary(ours), name
        # and they go into each engine's quality history alike
        for con, results in ((duck, ours), (pg, theirs)):
            record(con, "run-1", [from_result(r, "pandera") for r in results])
    stored = [
        [
            (*row[:-1], parsed_json(row[-1]))
            for row in con.execute(
                "select asset_key, check_name, dimension, check_kind, passed, severity,"
                " rows_checked, rows_failed, columns, observed from quality.check_results"
                " where run_id = 'run-1' order by asset_key, check_name"
            ).fetchall()
        ]
        for con in (duck, pg)
    ]
    assert stored[1] == stored[0]
    assert len(stored[0]) >= 3 * 4 and any(not row[4] for row in stored[0])
    assert (has_table(pg, "quality", "check_results"), has_quality_mart(pg)) == (True, False)

    # the samples: each engine's protect_record gives the same text for the same rows, and no
    # personal value of a sample is left in clear
    for con in (duck, pg):
        register_privacy(con, KEY)
    for name in SOURCES:
        personal = PERSONAL_COLUMNS.get(name, ())
        for outcome in _report(duck, name, catalog).outcomes:
            rows = [{k: v for k, v in row.items() if k not in OWN} for row in outcome.sample]
            protected = protect_rows(pg, name, rows)
            assert protected == protect_rows(duck, name, rows), (name, outcome.label)
            for clear, kept in zip(rows, protected, strict=True):
                for column in personal:
                    if clear.get(column):
                        assert kept[column] != clear[column], (name, column)


# Values that a CSV round trip could change: a null beside an empty text, quotes, a delimiter and
# a line break inside a text, a money value's scale, microseconds, the extremes of a bigint and
# of a double, non-ASCII text, lists (empty, null, holding a null, an empty text, braces).
AWKWARD = """
create table awkward (s text, n numeric(18, 4), t timestamp, b boolean, i bigint, d date,
                      f double precision, l varchar[]);
insert into awkward values
    ('plain', 1.5, timestamp '2011-01-02 03:04:05', true, 1, date '2011-01-02', 0.1,
     LIST['a', 'b']),
    (null, null, null, null, null, null, null, null),
    ('', -2.0001, timestamp '2011-12-31 23:59:59.123456', false, -9223372036854775808,
     date '1999-01-01', 1e-300, LIST[]),
    ('"quoted", with a comma
and a line', 99999999999999.9999, timestamp '1970-01-01 00:00:00', null, 9223372036854775807,
     null, -1.7976931348623157e308, LIST['"quoted", with a comma', null, '']),
    ('t', 0, timestamp '2038-01-19 03:14:08', true, 0, date '2038-01-19', 0.30000000000000004,
     LIST['{a,b}']),
    ('f', null, null, false, null, null, null, LIST[null]),
    ('Ünïcödé ✓ 한국어', 0.0001, timestamp '2026-12-06 00:00:00.000001', true, 42,
     date '2026-12-06', 5e-324, LIST['한국어'])
"""


def test_rows_read_from_postgres_are_typed_and_valued_as_duckdb_reads_them(loaded):
    duck, pg, _ = loaded
    spelling = {duck: ("[]", "["), pg: ("array[]::varchar[]", "array[")}
    for con, (empty, full) in spelling.items():
        con.execute("drop table if exists awkward")
        for statement in AWKWARD.split(";"):
            # the same lists in each engine's spelling
            con.execute(statement.replace("LIST[]", empty).replace("LIST[", full))
    ours = read_frame(duck, "select * from awkward")
    theirs = read_frame(pg, "select * from awkward")
    assert theirs.schema == ours.schema
    assert theirs.to_dicts() == ours.to_dicts()
    assert ours.height == 7
    # in batches: the same rows in order
    batches = read_batches(pg, "select * from awkward", 3)
    assert pl.concat([pl.from_arrow(b) for b in batches]).to_dicts() == ours.to_dicts()
    # an empty result is an empty frame of the query's types
    empty = read_frame(pg, "select * from awkward where false")
    assert (empty.height, empty.schema) == (0, ours.schema)
    # a type without a mapping is named, with what to do
    with pytest.raises(ValueError, match="cast it in the query"):
        read_frame(pg, "select interval '1 day' as span")


def test_the_raw_monitors_fire_on_postgres_as_in_duckdb(engines, tmp_path):
    """Deliveries of order lines, each loaded into both engines: the schema-change and volume
    monitors give the same findings after each, quiet on ordinary ones and firing on a new
    column, a column of numbers delivered as text and a collapsed delivery."""
    duck, pg = engines
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        header, *body = handle.readlines()
    fields = header.rstrip("\n").split(",")
    price = fields.index("UnitPrice")

    def as_text(line: str) -> str | None:
        cells = line.rstrip("\n").split(",")
        if len(cells) != len(fields):  # a line with a quoted comma
            return None
        cells[price] = f"GBP {cells[price]}"
        return ",".join(cells) + "\n"

    deliveries = {
        **{f"d{i}.csv": [header, *body[i : 400 + i]] for i in range(4)},
        "normal.csv": [header, *body[10:405]],
        "new_column.csv": [header.rstrip("\n") + ",Discount\n"]
        + [line.rstrip("\n") + ",0\n" for line in body[20:420]],
        "text_prices.csv": [header, *filter(None, map(as_text, body[30:430]))],
        "collapsed.csv": [header, *body[:40]],
    }
    seen = {}
    for name, lines in deliveries.items():
        path = tmp_path / name
        path.write_text("".join(lines), encoding="utf-8")
        catalog = tmp_path / "sources.yaml"
        files = {"order_lines": [{"path": str(path)}]}
        catalog.write_text(yaml.safe_dump(catalog_dict(files)), encoding="utf-8")
        config = load_catalog(catalog).order_lines
        found = []
        for con in (duck, pg):
            load_source(con, "order_lines", config, name)
            findings = (
                monitors.schema_change(con, "order_lines", config),
                monitors.load_volume(con, "order_lines", VOLUME),
            )
            found.append(
                [
                    (f.passed, LOAD_ID.sub("load …", f.summary), f.observed, f.table)
                    for f in findings
                ]
            )
        ours, theirs = found
        assert theirs == ours, name
        seen[name] = [passed for passed, *_ in theirs]
    assert seen["normal.csv"] == [True, True]
    assert seen["new_column.csv"][0] is False
    assert seen["text_prices.csv"][0] is False
    assert seen["collapsed.csv"][1] is False
