"""The row-by-row comparison of a relation on two engines (lib/postgres.first_difference), on two
DuckDB connections standing in for DuckDB and PostgreSQL: each returns the values its engine's
driver would, so the comparison must not depend on the Python types either side uses."""

from __future__ import annotations

import duckdb
import pytest

from ai_roi.lib import postgres


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


def test_a_missing_row_is_found_before_any_row_is_compared():
    """A mart built earlier than a row its source got later (the audit log) has fewer rows."""
    found = postgres.first_difference(
        _engine("(9, 'nine')"), _engine("(9, 'nine'), (10, 'ten')"), "marts", "t"
    )
    assert found == "marts.t: DuckDB has 1 rows, PostgreSQL 2"


def test_columns_of_another_name_or_order_are_named():
    renamed = duckdb.connect()
    renamed.execute("create schema marts")
    renamed.execute("create table marts.t as select 'nine' as label, 9 as n")
    found = postgres.first_difference(_engine("(9, 'nine')"), renamed, "marts", "t")
    assert found == ("marts.t: columns differ: DuckDB ['n', 'label'], PostgreSQL ['label', 'n']")


def test_differences_lists_only_the_relations_that_differ():
    one, other = _engine("(9, 'nine')"), _engine("(9, 'NINE')")
    for con in (one, other):
        con.execute("create table marts.same as select 1 as n")
    found = postgres.differences(one, other, [("marts", "same"), ("marts", "t")])
    assert found == ["marts.t: row 1 of 1 differs in label: DuckDB 'nine', PostgreSQL 'NINE'"]


def test_a_table_missing_from_duckdb_is_named_before_the_server_is_touched():
    """copy_tables looks every table up first: a missing one stops it with its name, and the
    server (here none at all) is never reached."""
    duck = _engine("(9, 'nine')")
    with pytest.raises(ValueError, match=r"marts\.gone is not in the DuckDB warehouse"):
        postgres.copy_tables(duck, None, [("marts", "gone")])
