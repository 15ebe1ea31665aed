"""The row-by-row comparison of a relation on two engines (lib/postgres.first_difference), on two
DuckDB connections standing in for DuckDB and PostgreSQL: each returns the values its engine's
driver would, so the comparison must not depend on the Python types either side uses."""

from __future__ import annotations

import duckdb

from dagster_project.lib import postgres


def _engine(values_sql: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(f"create table marts.t as select * from (values {values_sql}) as v(n, label)")
    return con


def test_integers_on_one_engine_and_decimals_on_the_other_sort_and_compare_alike():
    """A count is a bigint in DuckDB and a numeric in PostgreSQL; 9 sorts before 10 on both."""
    ints = _engine("(9, 'nine'), (10, 'ten'), (100, 'hundred')")
    decimals = _engine(
        "(9.0::decimal(10, 1), 'nine'), (10.0::decimal(10, 1), 'ten'),"
        " (100.0::decimal(10, 1), 'hundred')"
    )
    assert postgres.first_difference(ints, decimals, "marts", "t") is None


def test_a_differing_row_is_named_with_both_values():
    ints = _engine("(9, 'nine'), (10, 'ten')")
    other = _engine("(9.0::decimal(10, 1), 'nine'), (10.0::decimal(10, 1), 'TEN')")
    found = postgres.first_difference(ints, other, "marts", "t")
    assert found == "marts.t: row 2 of 2 differs in label: DuckDB 'ten', PostgreSQL 'TEN'"
