"""The dbt project on PostgreSQL: from the same sources, every model holds the rows DuckDB builds,
and the dialect traps met moving it there give the same values on both engines.

A real PostgreSQL server (scripts/local_postgres.py: Debian's binaries, a throw-away cluster on
127.0.0.1) receives the dbt sources of the pipeline built on the fixtures (`built`), typed as
they are (lib/postgres.py); dbt's Postgres adapter then builds and tests the whole project there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from pathlib import Path

import duckdb
import psycopg
import pytest

from ai_roi.lib import postgres
from ai_roi.lib.warehouse import row_fingerprint
from scripts import local_postgres
from tests.conftest import dbt_inline, dbt_manifest, run_dbt

PG_TARGET = ["--target", "postgres"]
READER, READER_PASSWORD = "bi_reader", "reads-marts-only"
POSTGRES_IDENTIFIER_BYTES = 63


@pytest.fixture(scope="module")
def both(built, server, tmp_path_factory):
    """The fixtures' warehouse, and the dbt project built and tested on PostgreSQL from its
    sources: (warehouse, server, dbt's results on PostgreSQL by node name)."""
    wh, _ = built
    sources = postgres.dbt_sources(dbt_manifest())
    with (
        duckdb.connect(str(wh.db_path), read_only=True) as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as pg,
    ):
        copied = postgres.copy_tables(duck, pg, sources)
    assert copied["staged.order_lines"] > 0 and copied["quality.check_results"] > 0, copied
    # the consumers' role, as a database administrator makes it: it can log in, nothing more
    with psycopg.connect(**local_postgres.connect_args(server), autocommit=True) as pg:
        pg.execute(f"create role {READER} login password '{READER_PASSWORD}'")
    code, results = run_dbt(
        ["build", *PG_TARGET],
        wh.db_path,
        tmp_path_factory.mktemp("pg"),
        {**server, "AI_ROI_PG_READER_ROLE": READER},
    )
    return wh, server, code, results


def test_every_dbt_model_and_test_passes_on_postgres(both):
    _, _, code, results = both
    failed = {
        name: r["message"] for name, r in results.items() if r["status"] not in ("success", "pass")
    }
    assert code == 0 and not failed, failed
    kinds = {r["unique_id"].split(".")[0] for r in results.values()}
    assert {"model", "test", "unit_test"} <= kinds


def test_the_consumers_role_reads_every_mart_and_nothing_else(both):
    """A BI tool logged in as AI_ROI_PG_READER_ROLE: every mart, no staged row, no staging
    view, and no write."""
    _, server, _, _ = both
    marts = [table for schema, table in postgres.dbt_models(dbt_manifest()) if schema == "marts"]
    reader = {**local_postgres.connect_args(server), "user": READER, "password": READER_PASSWORD}
    with psycopg.connect(**reader, autocommit=True) as con:
        counts = {m: con.execute(f'select count(*) from marts."{m}"').fetchone()[0] for m in marts}
        assert counts["mart_roi_summary"] == 1, counts
        for relation in ("staged.order_lines", "quarantine.rows", "stg.stg_erp__order_lines"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(f"select count(*) from {relation}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("delete from marts.mart_roi_summary")


def test_every_model_holds_the_same_rows_on_both_engines(both):
    """Every staging view, intermediate view and mart of the project, compared row by row."""
    wh, server, _, _ = both
    models = postgres.dbt_models(dbt_manifest())
    assert len(models) >= 20
    with (
        duckdb.connect(str(wh.db_path), read_only=True) as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as pg,
    ):
        differences = postgres.differences(duck, pg, models)
        rows = {
            f"{s}.{t}": pg.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in models
        }
    assert differences == []
    # the comparison saw real rows, not empty marts
    assert rows["marts.mart_data_quality"] > 0 and rows["marts.mart_demand_weekly"] > 0, rows


def test_a_mart_that_differs_is_named_with_its_first_differing_row(both):
    """The guard fires: one week's ticket count moved on PostgreSQL is found, named and shown
    on both sides."""
    wh, server, _, _ = both
    mart = "mart_support_kpis_weekly"
    with (
        duckdb.connect(str(wh.db_path), read_only=True) as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as pg,
    ):
        assert postgres.first_difference(duck, pg, "marts", mart) is None
        week, opened = pg.execute(
            f"select week_start, tickets_opened from marts.{mart} order by week_start limit 1"
        ).fetchone()
        pg.execute(
            f"update marts.{mart} set tickets_opened = tickets_opened + 1 where week_start = %s",
            [week],
        )
        try:
            found = postgres.first_difference(duck, pg, "marts", mart)
        finally:
            pg.rollback()
    assert found is not None
    assert found.startswith(f"marts.{mart}: row 1 of ")
    assert f"tickets_opened: DuckDB {opened!r}, PostgreSQL {opened + 1!r}" in found


TRAPS = """
select
    7 / 2 as integer_division,
    {{ divide('7', '2') }} as divided,
    {{ round_double('cast(1.005 as double precision)', 2) }} as rounded_below_half,
    {{ round_double('cast(0.125 as double precision)', 2) }} as rounded_half,
    {{ round_double('cast(-0.125 as double precision)', 2) }} as rounded_negative_half,
    (select {{ median('x') }} from (values (1.0), (2.0), (4.0), (10.0)) as t(x)) as median,
    (select {{ quantile_cont('x', 0.9) }} from (values (1.0), (2.0), (4.0), (10.0)) as t(x))
        as p90,
    (select {{ first_by('v', 'n desc, v') }} from (values ('b', 2), ('a', 2), ('c', 1)) as t(v, n))
        as first_by,
    {{ sha256_hex("'abc'") }} as sha256,
    (select count(*) from {{ integer_series(0, 120, 's', 'n') }}) as months,
    (select count(*) from (select {{ week_series("cast('2011-01-03' as date)", "cast('2011-03-28' as date)") }} as w) as t)
        as weeks,
    {{ regex_full_match("'p0123456789abcdef'", 'p[0-9a-f]{16}') }} as matches,
    {{ regex_full_match("'xp0123456789abcdef'", 'p[0-9a-f]{16}') }} as matches_inside,
    {{ dbt.datediff("cast('2011-01-03 10:59:00' as timestamp)", "cast('2011-01-03 11:01:00' as timestamp)", 'minute') }}
        as minutes_between,
    (select count(*) from (
        {{ unpivot_columns('(select 1 as id, 2.0 as a, cast(null as numeric) as b) as u', ['id'], ['a', 'b'], 'k', 'v') }}
    ) as t) as unpivoted
"""


def _show(sql: str, target: list[str], env: dict[str, str], tmp: Path) -> dict:
    code, answer, said = dbt_inline("show", sql, target, env, tmp, "--output", "json")
    assert code == 0, said
    return json.loads(answer["preview"])[0]


def test_the_dialect_traps_give_the_same_values_on_both_engines(both, tmp_path):
    wh, server, _, _ = both
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "postgres").mkdir()
    duck = _show(
        TRAPS, [], {**os.environ, "AI_ROI_DUCKDB_PATH": str(wh.db_path)}, tmp_path / "duckdb"
    )
    pg = _show(TRAPS, PG_TARGET, {**os.environ, **server}, tmp_path / "postgres")

    # the trap is real: the same SQL divides differently
    assert (duck["integer_division"], pg["integer_division"]) == (3.5, 3)
    # every macro gives one value on both engines
    for name in duck:
        if name == "integer_division":
            continue
        a, b = duck[name], pg[name]
        if isinstance(a, float) or isinstance(b, float):
            assert math.isclose(a, b, rel_tol=postgres.REL_TOL), (name, a, b)
        else:
            assert a == b, (name, a, b)
    # and the value each name promises, by Python's own definitions
    values = [1.0, 2.0, 4.0, 10.0]
    assert duck["divided"] == 7 / 2
    assert duck["median"] == statistics.median(values)
    assert math.isclose(duck["p90"], statistics.quantiles(values, n=10, method="inclusive")[-1])
    assert duck["rounded_below_half"] == round(1.005, 2)  # the binary 1.00499..., not 1.01
    assert (
        duck["first_by"]
        == sorted([("b", 2), ("a", 2), ("c", 1)], key=lambda r: (-r[1], r[0]))[0][0]
    )
    assert duck["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert duck["months"] == len(range(0, 121))
    assert duck["matches"] is True and duck["matches_inside"] is False
    assert duck["unpivoted"] == 1  # the null value is left out, as DuckDB's UNPIVOT leaves it


# delivered values that a careless fingerprint mixes up: null, empty and '-' apart; values whose
# characters are not bytes (a combining accent, Korean, an emoji); a value holding the separators
DELIVERED = [
    ("a", None, "x"),
    ("a", "", "x"),
    ("a", "-", "x"),
    (None, "a", "x"),
    ("a:", "1", "x"),
    ("a", ":1", "x"),
    ("e\u0301", "한국어", "🦆"),
    ("1:a-", None, None),
    ("1:a", "-", None),
]


def test_a_delivered_rows_fingerprint_is_the_same_on_both_engines(server):
    """Raw rows are matched with their copies by `row_fingerprint`: both engines give each row
    the same fingerprint, and rows that differ in any value get different ones."""
    columns = ["first", "second", "third"]
    create = 'create table delivered ("first" varchar, "second" varchar, "third" varchar)'
    with duckdb.connect() as duck:
        duck.execute(create)
        duck.executemany("insert into delivered values (?, ?, ?)", DELIVERED)
        in_duckdb = duck.execute(
            f"select {row_fingerprint(columns)} from delivered order by rowid"
        ).fetchall()
    with psycopg.connect(**local_postgres.connect_args(server), autocommit=True) as pg:
        pg.execute(create.replace("delivered", "pg_temp.delivered"))
        with pg.cursor() as cursor:
            cursor.executemany("insert into pg_temp.delivered values (%s, %s, %s)", DELIVERED)
        in_postgres = pg.execute(
            f"select {row_fingerprint(columns, 'postgres')} from pg_temp.delivered order by ctid"
        ).fetchall()
    assert in_duckdb == in_postgres
    assert len(set(in_duckdb)) == len(DELIVERED)


def test_every_relation_dbt_creates_fits_a_postgres_identifier():
    """PostgreSQL cuts names at 63 bytes; a unit test named longer could not build its relation."""

    def too_long(names):
        return [n for n in names if len(n.encode()) > POSTGRES_IDENTIFIER_BYTES]

    manifest = dbt_manifest()
    names = [table for _, table in postgres.dbt_models(manifest)]
    names += [n["name"] for n in manifest["unit_tests"].values()]
    assert too_long(names) == []
    # the guard fires on the unit test name that failed on PostgreSQL
    assert too_long(["roi_payback_is_the_first_month_the_cumulative_net_turns_non_negative"])
