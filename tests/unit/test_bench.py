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
