"""The benchmark's scaled inputs: copies of the real export whose lines are new lines, not copies."""

from __future__ import annotations

import duckdb

from scripts.bench import scaled_orders
from tests.conftest import FIXTURES

FORMAT = "%Y-%m-%d %H:%M:%S"


def test_scaled_copies_shift_invoice_numbers_and_dates_and_keep_everything_else(tmp_path):
    source = FIXTURES / "order_lines.csv.gz"
    dest = tmp_path / "x3.csv.gz"
    assert scaled_orders(source, dest, 3, FORMAT) == 3 * _count(source)
    with duckdb.connect() as con:
        original = con.execute(
            "select * from read_csv($p, all_varchar = true)", {"p": str(source)}
        ).df()
        scaled = con.execute(
            "select * from read_csv($p, all_varchar = true)", {"p": str(dest)}
        ).df()
    assert list(scaled.columns) == list(original.columns)
    # every copy's invoice numbers are new: none is shared between copies
    copies = scaled.assign(copy=[i // len(original) for i in range(len(scaled))])
    invoices = copies.groupby("copy")["InvoiceNo"].apply(set)
    assert not (invoices[0] & invoices[1]) and not (invoices[1] & invoices[2])
    # a cancellation stays a cancellation, with the same prefix
    assert (scaled["InvoiceNo"].str.startswith("C").sum()) == 3 * original[
        "InvoiceNo"
    ].str.startswith("C").sum()
    # copy k is k days later, and otherwise the same lines
    second = copies[copies["copy"] == 2].reset_index(drop=True)
    moved = (
        (_dates(second["InvoiceDate"]) - _dates(original["InvoiceDate"])).dropna().dt.days.unique()
    )
    assert list(moved) == [2]
    same = ["StockCode", "Description", "Quantity", "UnitPrice", "CustomerID", "Country"]
    assert second[same].equals(original[same])


def _count(path) -> int:
    with duckdb.connect() as con:
        return con.execute(
            "select count(*) from read_csv($p, all_varchar = true)", {"p": str(path)}
        ).fetchone()[0]


def _dates(values):
    import pandas as pd

    return pd.to_datetime(values, format=FORMAT, errors="coerce")


def test_a_measured_command_that_writes_much_output_is_not_blocked(tmp_path):
    """While it samples memory, the measuring parent must not leave the child's output in a pipe
    nobody reads: a child that writes more than a pipe holds would wait for ever."""
    import subprocess
    import sys

    from scripts.bench import MEASURE

    samples = tmp_path / "samples.txt"
    write = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('y' * 1_000_000)"
    try:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(samples), sys.executable, "-c", write],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the measured command did not finish in 60 s") from None
    assert done.stdout.count("x") == 1_000_000 and done.stderr.count("y") == 1_000_000
    assert done.stdout.splitlines()[-1].split()[-1] == "0"  # BENCH <seconds> <peak> <exit code>
    assert samples.read_text().strip()  # memory was sampled meanwhile


def test_the_bare_scripts_rule_counts_are_the_raw_checks_counts():
    """The benchmark's baseline for the checks is one DuckDB query of the same rules: over the real
    fixture with rows broken on purpose (one per kind), it counts every check's failing rows as
    the raw order lines' Pandera checks do, check by check, and covers every check."""
    import re

    from ai_roi.defs.orders import schemas
    from ai_roi.lib.rules import TABLE_HAS_ROWS, validate
    from ai_roi.sources import load_catalog
    from scripts.bench import bare_script
    from scripts.bench_incremental import CATALOG

    statements = bare_script(FIXTURES / "order_lines.csv.gz", FORMAT).split(";")
    create = {re.search(r"create or replace table (\w+)", s).group(1): s for s in statements[:-1]}
    with duckdb.connect() as con:
        con.execute(create["raw"])
        # real lines, each broken in one way a rule looks for
        for broken in (
            "'12x' as quantity",
            "'0' as quantity",
            "'-5' as quantity, '536999' as invoice_no",
            "'9999999' as quantity",
            "'n/a' as unit_price",
            "'99999.5' as unit_price",
            "'-1.0' as unit_price",
            "'31/12/2011 10:00' as invoice_date",
            "'2999-01-01 00:00:00' as invoice_date",
            "'1999-12-31 23:59:00' as invoice_date",
            "null as stock_code",
            "'85123a' as stock_code",
            "null as description",
            "' white metal lantern ' as description",
            "'  ' as customer_id",
            "null as customer_id",
            "'EIRE' as country",
            "null as country",
        ):
            con.execute(f"insert into raw select * replace ({broken}) from raw limit 3")
        con.execute(create["rules"])
        sql = con.sql("select * from rules").fetchdf().iloc[0].to_dict()
        frame = con.sql("select * from raw").pl()
    catalog = load_catalog(CATALOG)
    report = validate(schemas.raw_schema(catalog), frame, schemas.RAW_RULES)
    pandera = {o.label: o.failures for o in report.outcomes if o.rule is not TABLE_HAS_ROWS}
    assert {label: int(n) for label, n in sql.items()} == pandera
    # every check of the rule book failed somewhere, so each count above was compared
    checks = {
        f"{rule.name}:{column}" if column else rule.name
        for rule in schemas.RAW_RULES
        for column, _check in rule.checks(catalog.order_lines)
    }
    assert set(pandera) == checks
