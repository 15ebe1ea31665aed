"""Rules, rule books and their generated schemas, and turning Pandera failures into per-dimension
check results."""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from ai_roi.lib.rules import (
    TABLE_HAS_ROWS,
    Rule,
    RuleBook,
    check_results,
    check_specs,
    column_check,
    frame_check,
    validate,
)

RULES = RuleBook(
    TABLE_HAS_ROWS,
    Rule("id_present", "completeness", "id is missing", blocking=True),
    Rule("amount_positive", "accuracy", "amount not positive"),
    Rule("pair_unique", "uniqueness", "pair repeats", key="id"),
)
SCHEMA = pa.DataFrameSchema(
    name="t",
    columns={
        "id": pa.Column(
            pl.String,
            nullable=True,
            checks=[column_check("id_present", lambda c: c.is_not_null(), nulls_valid=False)],
        ),
        "amount": pa.Column(
            pl.Int64, nullable=True, checks=[column_check("amount_positive", lambda c: c > 0)]
        ),
    },
    checks=[frame_check("pair_unique", ~pl.struct("id", "amount").is_duplicated())],
)
KEY = dg.AssetKey(["test", "t"])


def _results(df: pl.DataFrame) -> dict[str, dg.AssetCheckResult]:
    report = validate(SCHEMA, df, RULES)
    return {r.check_name: r for r in check_results(report, KEY, "t", RULES)}


def test_one_check_per_dimension_and_blocking_only_where_a_rule_blocks():
    specs = {s.name: s for s in check_specs(KEY, "t", RULES)}
    assert set(specs) == {"t_accuracy", "t_completeness", "t_uniqueness"}
    assert specs["t_completeness"].blocking and not specs["t_accuracy"].blocking


def test_clean_data_passes_every_dimension():
    results = _results(pl.DataFrame({"id": ["a", "b"], "amount": [1, 2]}))
    assert all(r.passed for r in results.values())


def test_failures_are_counted_per_rule_with_severity_by_blocking():
    df = pl.DataFrame({"id": ["a", None, "c", "c"], "amount": [1, 2, -3, -3]})
    results = _results(df)
    completeness = results["t_completeness"]
    assert not completeness.passed and completeness.severity == dg.AssetCheckSeverity.ERROR
    assert completeness.metadata["failures_by_rule"].value == {"id_present:id": 1}
    accuracy = results["t_accuracy"]
    assert not accuracy.passed and accuracy.severity == dg.AssetCheckSeverity.WARN
    assert accuracy.metadata["failures_by_rule"].value == {"amount_positive:amount": 2}
    uniqueness = results["t_uniqueness"]
    assert uniqueness.metadata["failures_by_rule"].value == {"pair_unique": 2}
    assert uniqueness.metadata["distinct_keys_by_rule"].value == {"pair_unique": 1}
    assert "c" in uniqueness.metadata["failure_samples"].value


def test_an_empty_table_fails_completeness_as_blocking():
    results = _results(
        pl.DataFrame({"id": [], "amount": []}, schema={"id": pl.String, "amount": pl.Int64})
    )
    completeness = results["t_completeness"]
    assert not completeness.passed and completeness.severity == dg.AssetCheckSeverity.ERROR
    assert "table_has_rows" in completeness.metadata["failed_rules"].value


def test_a_missing_column_is_a_blocking_completeness_failure():
    results = _results(pl.DataFrame({"id": ["a"]}))
    assert results["t_completeness"].severity == dg.AssetCheckSeverity.ERROR
    assert "column_in_dataframe" in results["t_completeness"].metadata["failed_rules"].value


def test_a_check_without_a_rule_is_a_programming_error():
    schema = SCHEMA.add_columns(
        {"x": pa.Column(pl.Int64, checks=[column_check("unlisted", lambda c: c > 0)])}
    )
    with pytest.raises(KeyError, match="unlisted"):
        validate(schema, pl.DataFrame({"id": ["a"], "amount": [1], "x": [-1]}), RULES)


def test_unknown_dimension_is_rejected():
    with pytest.raises(ValueError, match="dimension"):
        Rule("r", "validity", "not one of the five")


def test_a_run_that_checked_some_assets_carries_the_others_forward():
    from datetime import datetime

    from ai_roi.lib.history import states_by_run

    def row(run, minute, asset, score):
        at = datetime(2026, 12, 1, 10, minute)
        return {
            "run_id": run,
            "evaluated_at": at,
            "asset_key": asset,
            "dimension": "validity",
            "score": score,
        }

    history = [
        row("b", 30, "raw/x", 90.0),  # the second run checked raw/x only
        row("a", 0, "raw/x", 80.0),
        row("a", 1, "staged/x", 99.0),
        row("c", 50, "staged/x", 95.0),
    ]
    states = states_by_run(history)
    assert list(states) == ["a", "b", "c"]  # oldest run first, whatever the rows' order
    scores = {
        run: {r["asset_key"]: (r["score"], r["evaluated_in"]) for r in rows}
        for run, rows in states.items()
    }
    assert scores["a"] == {"raw/x": (80.0, "a"), "staged/x": (99.0, "a")}
    assert scores["b"] == {"raw/x": (90.0, "b"), "staged/x": (99.0, "a")}
    assert scores["c"] == {"raw/x": (90.0, "b"), "staged/x": (95.0, "c")}
    assert all(r["run_id"] == run for run, rows in states.items() for r in rows)


# Three accuracy rules that overlap on some rows, and a keyed uniqueness rule over two columns.
AMOUNT_RULES = RuleBook(
    TABLE_HAS_ROWS,
    Rule("amount_positive", "accuracy", "amount not positive"),
    Rule("amount_small", "accuracy", "amount above 100"),
    Rule("amount_not_round", "accuracy", "amount is a multiple of ten"),
    Rule("pair_unique", "uniqueness", "pair repeats", key="id"),
)


def amount_schema(ids_nullable: bool) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        name="t",
        columns={
            "id": pa.Column(pl.String, nullable=ids_nullable),
            "amount": pa.Column(
                pl.Int64,
                nullable=True,
                checks=[
                    column_check("amount_positive", lambda c: c > 0),
                    column_check("amount_small", lambda c: c <= 100),
                    column_check("amount_not_round", lambda c: c % 10 != 0),
                ],
            ),
        },
        checks=[frame_check("pair_unique", ~pl.struct("id", "amount").is_duplicated())],
    )


def test_counts_come_from_every_row_while_samples_stop_at_the_sample_size():
    """Failures far beyond the sample: each rule counts all its rows, a row failing two rules of
    one dimension counts once for the dimension, and each sample keeps five rows."""
    rules, schema = AMOUNT_RULES, amount_schema(ids_nullable=False)
    ids = [f"k{i % 40}" if i % 3 else None for i in range(1200)]
    amounts = [(-20 if i % 2 else 1000) if i % 5 == 0 else i % 90 + 1 for i in range(1200)]
    df = pl.DataFrame({"id": ids, "amount": amounts})
    report = validate(schema, df, rules)
    by_label = {o.label: o for o in report.outcomes}
    expected = {
        "amount_positive:amount": df.filter(pl.col("amount") <= 0).height,
        "amount_small:amount": df.filter(pl.col("amount") > 100).height,
        "amount_not_round:amount": df.filter(pl.col("amount") % 10 == 0).height,
        "pair_unique": df.filter(pl.struct("id", "amount").is_duplicated()).height,
        "not_nullable:id": df.filter(pl.col("id").is_null()).height,
    }
    assert {label: by_label[label].failures for label in expected} == expected
    assert all(len(o.sample) == 5 for o in report.outcomes)
    assert (
        report.failed_rows["accuracy"]
        == df.filter(
            (pl.col("amount") <= 0) | (pl.col("amount") > 100) | (pl.col("amount") % 10 == 0)
        ).height
    )
    duplicated = df.filter(pl.struct("id", "amount").is_duplicated())
    assert by_label["pair_unique"].distinct_keys == duplicated["id"].n_unique()
    assert all(row["amount"] > 100 for row in by_label["amount_small:amount"].sample)


def test_a_large_table_validated_in_parts_gives_the_whole_tables_verdict(monkeypatch):
    """Split by the uniqueness key, the parts find every copy (the first and the last row are
    one line) and add up to the figures of the whole table."""
    import duckdb

    from ai_roi.lib import rules as rule_lib

    rules, schema = AMOUNT_RULES, amount_schema(ids_nullable=True)
    con = duckdb.connect()
    con.execute(
        "create table t as select case when i % 7 = 0 then null else 'k' || (i % 50) end as id,"
        " case when i % 11 = 0 then -i when i % 13 = 0 then 500 + i else i % 97 end as amount,"
        " hash(i) as _row_hash from range(3000) as r(i)"
    )
    con.execute("insert into t select id, amount, 0 from t order by rowid limit 1")  # last = first
    whole = rule_lib.validate_table(con, "t", schema, rules, bucket_by=("id", "amount"))
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1].height)
        return validate(*args, **kwargs)

    monkeypatch.setattr(rule_lib, "validate", counted)
    parts = rule_lib.validate_table(
        con, "t", schema, rules, bucket_by=("id", "amount"), chunk_rows=400
    )
    assert len(calls) == 8 and sum(calls) == 3001  # ceil(3001 / 400) parts, every row once

    def figures(report):
        return (
            report.rows_checked,
            report.failed_rows,
            {o.label: (o.failures, o.distinct_keys) for o in report.outcomes},
        )

    assert figures(parts) == figures(whole)
    by_label = {o.label: o for o in parts.outcomes}
    first = con.execute("select id, amount from t order by rowid limit 1").fetchall()[0]
    copies = con.execute(
        "select count(*) from t where id is not distinct from ? and amount = ?", list(first)
    ).fetchall()[0][0]
    assert copies >= 2 and by_label["pair_unique"].failures >= copies
    assert all(0 < len(o.sample) <= 5 for o in parts.outcomes)
    assert all(row["amount"] > 100 for row in by_label["amount_small:amount"].sample)


def test_a_rule_declared_with_its_test_generates_the_schema_that_validates_it():
    """One declaration per rule: the rule book gives the schema its checks, with the settings."""
    book = RuleBook(
        TABLE_HAS_ROWS,
        Rule(
            "id_present",
            "completeness",
            "id is missing",
            on="id",
            valid=lambda c, cfg: c.is_not_null() & (c != cfg["missing"]),
            nulls_valid=False,
        ),
        Rule(
            "amount_below_limit",
            "accuracy",
            "amount above the limit",
            on=("amount", "refund"),
            valid=lambda c, cfg: c <= cfg["limit"],
        ),
        Rule(
            "pair_unique",
            "uniqueness",
            "pair repeats",
            valid_rows=lambda cfg: ~pl.struct("id", "amount").is_duplicated(),
            together=("id", "amount"),
        ),
    )
    columns = {
        "id": pa.Column(pl.String, nullable=True),
        "amount": pa.Column(pl.Int64),
        "refund": pa.Column(pl.Int64),
    }
    schema = book.schema("t", columns, {"missing": "?", "limit": 10})
    # the caller's columns are not changed: a second schema from them gets the checks once
    assert columns["id"].checks == []
    assert [c.name for c in schema.columns["amount"].checks] == ["amount_below_limit"]
    assert [c.name for c in schema.columns["refund"].checks] == ["amount_below_limit"]
    assert [c.name for c in schema.checks] == ["pair_unique"]

    df = pl.DataFrame(
        {"id": ["a", "?", None, "a"], "amount": [1, 2, 30, 1], "refund": [0, 11, 0, 0]}
    )
    report = validate(schema, df, book)
    failures = {o.label: o.failures for o in report.outcomes}
    assert failures["id_present:id"] == 2  # "?" and the null
    assert failures["amount_below_limit:amount"] == 1 and failures["amount_below_limit:refund"] == 1
    assert failures["pair_unique"] == 2
    # the settings decide: a higher limit lets every amount pass
    relaxed = validate(book.schema("t", columns, {"missing": "?", "limit": 100}), df, book)
    assert not any(o.label.startswith("amount_below_limit") for o in relaxed.outcomes)


def test_a_rule_on_a_column_the_stage_lacks_or_with_half_a_test_is_refused():
    book = RuleBook(Rule("x_set", "completeness", "x", on="x", valid=lambda c, _: c.is_not_null()))
    with pytest.raises(ValueError, match="rule x_set: t has no column 'x'"):
        book.schema("t", {"y": pa.Column(pl.String)})
    with pytest.raises(ValueError, match="needs `on` and `valid` both"):
        Rule("half", "accuracy", "half a test", on="x")
    with pytest.raises(ValueError, match="not both"):
        Rule("both", "accuracy", "two tests", on="x", valid=lambda c, _: c, valid_rows=lambda _: 1)


def test_a_large_table_is_split_by_one_key_only_where_every_check_comparing_rows_agrees_on_it():
    """lib.rules.shared_reach: one split serves a schema only when its every check that compares
    rows compares them within groups of the same columns; anything else gets no key."""
    from ai_roi.lib.rules import shared_reach

    row = frame_check("amount_positive", pl.col("amount") > 0)
    by_id = frame_check("id_unique", ~pl.col("id").is_duplicated(), together=["id"])
    by_pair = frame_check(
        "pair_unique", ~pl.struct("id", "amount").is_duplicated(), together=["id", "amount"]
    )
    newest = frame_check("newest", pl.col("amount") <= pl.col("amount").max(), together=[])
    opaque = pa.Check(lambda data: data.lazyframe.select(pl.lit(True)), name="opaque")

    def schema(*checks, unique_amount=False, **options):
        columns = {"id": pa.Column(pl.String), "amount": pa.Column(pl.Int64, unique=unique_amount)}
        return pa.DataFrameSchema(columns=columns, checks=list(checks), **options)

    assert shared_reach(schema(row, by_id)) == ("id",)
    assert shared_reach(schema(row)) == ()  # nothing compares rows
    assert shared_reach(schema(row, by_id, by_pair)) == ()  # they compare on different columns
    assert shared_reach(schema(by_id, newest)) == ()  # one compares every row
    assert shared_reach(schema(by_id, opaque)) == ()  # a check whose reach is unknown
    assert shared_reach(schema(by_id, unique_amount=True)) == ()  # a column must be unique
    assert shared_reach(schema(by_id, unique=["amount"])) == ()  # a key must be unique
