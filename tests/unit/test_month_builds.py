"""Which months a run of every month rewrites: those whose staged or mart rows changed."""

from __future__ import annotations

import duckdb

from ai_roi.lib.month_builds import (
    TABLE,
    UNDATED,
    Built,
    PeriodMart,
    fingerprints,
    record,
    recorded,
    to_rebuild,
    window,
)
from ai_roi.lib.partitions import monthly

FACT = PeriodMart("marts.fct", "staged.lines", "sold_at")


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema staged; create schema marts")
    con.execute(
        "create table staged.lines as select * from (values"
        " (1, timestamp '2011-01-03 10:00', 5), (2, timestamp '2011-01-20 11:00', 7),"
        " (3, timestamp '2011-02-01 00:00', 1)) t(id, sold_at, quantity)"
    )
    con.execute(
        "create table marts.fct as select id, sold_at, quantity * 2 as units from staged.lines"
    )
    return con


def _plan(con, code="c1"):
    return to_rebuild(
        [FACT],
        recorded(con),
        {FACT.table: fingerprints(con, FACT.staged, FACT.column)},
        {FACT.table: fingerprints(con, FACT.table, FACT.column)},
        code,
    )


def test_nothing_recorded_rebuilds_every_month():
    months, why = _plan(_warehouse())
    assert months is None and "no recorded build" in why


def test_after_a_build_nothing_changed_means_no_month():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    assert con.execute(f"select count(*) from {TABLE}").fetchone()[0] == 2  # January, February
    assert _plan(con)[0] == set()
    assert window(set()) == ("1900-01-01", "1900-01-01")  # empty: deletes and adds nothing


def test_a_changed_staged_month_is_the_only_one_rewritten():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    con.execute("update staged.lines set quantity = 9 where id = 3")
    assert _plan(con)[0] == {"2011-02-01"}
    con.execute("insert into staged.lines values (4, timestamp '2011-04-30 23:59', 2)")
    months, _ = _plan(con)
    assert months == {"2011-02-01", "2011-04-01"}
    assert window(months) == ("2011-02-01", "2011-05-01")  # whole months, the end exclusive


def test_a_mart_month_edited_since_its_build_is_rewritten():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    con.execute("delete from marts.fct where id = 1")
    assert _plan(con)[0] == {"2011-01-01"}


def test_a_month_that_lost_its_staged_rows_is_rewritten():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    con.execute("delete from staged.lines where id = 3")
    assert _plan(con)[0] == {"2011-02-01"}


def test_changed_code_or_undated_rows_rebuild_every_month():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    months, why = _plan(con, code="c2")
    assert months is None and "dbt project changed" in why
    con.execute("insert into staged.lines values (5, null, 1)")
    months, why = _plan(con)
    assert months is None and "without a date" in why


def test_recording_a_window_keeps_the_other_months_as_they_were_built():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    con.execute("update staged.lines set quantity = 9")
    record(con, [FACT], ("2011-02-01", "2011-03-01"), "c1", "run-2")
    runs = dict(con.execute(f"select month, run_id from {TABLE}").fetchall())
    assert runs == {"2011-01-01": "run-1", "2011-02-01": "run-2"}
    assert _plan(con)[0] == {"2011-01-01"}  # January's staged rows changed and were not rebuilt
    assert UNDATED not in recorded(con)[FACT.table]


def test_the_recorded_build_reads_back_as_it_was_written():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    built = recorded(con)[FACT.table]["2011-01-01"]
    assert isinstance(built, Built) and built.code == "c1"
    assert built.inputs == fingerprints(con, FACT.staged, FACT.column)["2011-01-01"]


def test_recording_a_window_without_rows_records_nothing_new():
    con = _warehouse()
    record(con, [FACT], None, "c1", "run-1")
    record(con, [FACT], window(set()), "c1", "run-2")
    assert con.execute(f"select count(*) from {TABLE} where run_id = 'run-2'").fetchone()[0] == 0


def test_a_run_names_the_changed_months_only_when_each_is_a_partition():
    """The CLI tags its period-mart run with the changed months; a window the partitions do not
    cover (a month before the first, an empty window) leaves the run to build every month."""
    from ai_roi.lib.partitions import RANGE_END_TAG, RANGE_START_TAG, window_tags
    from ai_roi.params import PartitionParams

    months = monthly(PartitionParams(start_month="2011-01-01", end_month="2011-12-01"))
    assert window_tags(months, ("2011-11-01", "2011-12-01")) == {
        RANGE_START_TAG: "2011-11-01",
        RANGE_END_TAG: "2011-11-01",
    }
    assert window_tags(months, ("2011-02-01", "2011-05-01")) == {
        RANGE_START_TAG: "2011-02-01",
        RANGE_END_TAG: "2011-04-01",
    }
    assert (
        window_tags(months, ("2010-12-01", "2011-03-01")) is None
    )  # December 2010 is no partition
    assert window_tags(months, ("2011-11-01", "2012-02-01")) is None  # nor January 2012
    assert window_tags(months, window(set())) is None  # nothing changed
