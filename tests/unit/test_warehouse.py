"""Loading files into the raw layer: clear errors on bad files, nothing stored is lost."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
import yaml

from ai_roi.lib.warehouse import IngestError, load_source
from ai_roi.sources import load_catalog
from tests.conftest import FIXTURES, catalog_dict


def _orders_config(tmp_path: Path, path: Path, **fields):
    catalog = catalog_dict(files={"order_lines": [{"path": str(path)}]}, order_lines=fields)
    cat_path = tmp_path / "sources.yaml"
    cat_path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return load_catalog(cat_path).order_lines


def _fixture_lines(n: int | None = None) -> list[str]:
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        lines = handle.readlines()
    return lines if n is None else lines[:n]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        yield connection


def test_renamed_column_names_file_column_and_likely_new_name(tmp_path, con):
    lines = _fixture_lines(50)
    lines[0] = lines[0].replace("InvoiceNo", "Invoice_No")
    path = _write(tmp_path / "orders.csv", lines)
    with pytest.raises(IngestError) as error:
        load_source(con, "order_lines", _orders_config(tmp_path, path), "run")
    message = str(error.value)
    assert "orders.csv" in message and "'InvoiceNo'" in message and "'Invoice_No'" in message
    assert "sources.order_lines.columns" in message


def test_empty_file_is_refused_and_previous_delivery_stays_current(tmp_path, con):
    good = _write(tmp_path / "good.csv", _fixture_lines(100))
    first = load_source(con, "order_lines", _orders_config(tmp_path, good), "run1")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        load_source(con, "order_lines", _orders_config(tmp_path, empty), "run2")
    current = con.execute("select load_id from raw._loads where is_current").fetchall()
    assert current == [(first.load_id,)]
    assert con.execute("select count(*) from raw.order_lines__current").fetchone()[0] == 99


def test_same_file_twice_is_loaded_once(tmp_path, con):
    path = _write(tmp_path / "orders.csv", _fixture_lines(200))
    config = _orders_config(tmp_path, path)
    first = load_source(con, "order_lines", config, "run1")
    second = load_source(con, "order_lines", config, "run2")
    assert second.reused and second.load_id == first.load_id
    assert con.execute("select count(*) from raw.order_lines").fetchone()[0] == 199


def test_a_renamed_copy_of_a_file_is_the_same_delivery(tmp_path, con):
    lines = _fixture_lines(200)
    first = load_source(
        con, "order_lines", _orders_config(tmp_path, _write(tmp_path / "a.csv", lines)), "r1"
    )
    again = load_source(
        con, "order_lines", _orders_config(tmp_path, _write(tmp_path / "b.csv", lines)), "r2"
    )
    assert again.reused and again.load_id == first.load_id


def test_wrong_delimiter_is_reported_as_missing_columns(tmp_path, con):
    path = _write(tmp_path / "orders.csv", [line.replace(",", ";") for line in _fixture_lines(20)])
    with pytest.raises(IngestError, match="missing column"):
        load_source(con, "order_lines", _orders_config(tmp_path, path), "run")


def test_truncated_gzip_fails_clearly_and_keeps_the_last_good_load(tmp_path, con):
    good = _write(tmp_path / "good.csv", _fixture_lines(100))
    load_source(con, "order_lines", _orders_config(tmp_path, good), "run1")
    data = (FIXTURES / "order_lines.csv.gz").read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match="cut.csv.gz"):
        load_source(con, "order_lines", _orders_config(tmp_path, cut), "run2")
    assert con.execute("select count(*) from raw.order_lines__current").fetchone()[0] == 99
    assert con.execute("select count(*) from raw._loads").fetchone()[0] == 1


def test_missing_file_names_the_setting(tmp_path, con):
    config = _orders_config(tmp_path, tmp_path / "absent.csv")
    with pytest.raises(IngestError, match=r"absent\.csv.*files\[\]\.path"):
        load_source(con, "order_lines", config, "run")


def test_a_warehouse_of_the_previous_layout_is_brought_up_to_date(tmp_path, con):
    """Raw tables and raw._loads written before deliveries had a status and a delivery-wide row
    number: the next load adds both, and what was current becomes the accepted delivery."""
    path = _write(tmp_path / "orders.csv", _fixture_lines(200))
    config = _orders_config(tmp_path, path)
    first = load_source(con, "order_lines", config, "run1")
    con.execute("update raw._loads set is_current = true")
    for column in ("status", "reason", "policy", "mapping", "decided_at"):
        con.execute(f"alter table raw._loads drop column {column}")
    con.execute("alter table raw.order_lines drop column _delivery_row")

    again = load_source(con, "order_lines", config, "run2")
    assert again.reused and again.load_id == first.load_id
    assert con.execute("select status from raw._loads").fetchall() == [("accepted",)]
    assert (
        con.execute(
            "select count(*) from raw.order_lines__current where _delivery_row is null"
        ).fetchone()[0]
        == 0
    )


def test_rows_fingerprinted_with_duckdbs_hash_are_fingerprinted_again_and_copies_still_match(
    tmp_path, con
):
    """Raw rows loaded when `_row_hash` was DuckDB's `hash()`: the next load gives them the
    portable fingerprint, so a new delivery's copies of them are still found."""
    lines = _fixture_lines(301)
    header, first_lines, second_lines = lines[0], lines[1:201], lines[101:301]
    first = load_source(
        con, "order_lines", _orders_config(tmp_path, _write(tmp_path / "a.csv", lines[:201])), "r1"
    )
    columns = ", ".join(
        f'"{c}"'
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'raw'"
            " and table_name = 'order_lines' and column_name[1] <> '_' order by column_index"
        ).fetchall()
    )
    con.execute(
        f"alter table raw.order_lines alter _row_hash set data type ubigint using hash({columns})"
    )

    config = _orders_config(tmp_path, _write(tmp_path / "b.csv", [header, *second_lines]))
    second = load_source(con, "order_lines", config, "r2")
    assert not second.reused
    kinds = con.execute(
        "select distinct data_type from duckdb_columns() where table_name = 'order_lines'"
        " and column_name = '_row_hash'"
    ).fetchall()
    assert kinds == [("VARCHAR",)]
    copies = con.execute(
        "select count(*) from raw.order_lines as b where b._load_id = $second and b._row_hash in"
        " (select _row_hash from raw.order_lines where _load_id = $first)",
        {"first": first.load_id, "second": second.load_id},
    ).fetchone()[0]
    assert copies > 0 and copies == sum(line in set(first_lines) for line in second_lines)


def test_each_raw_row_carries_its_line_in_its_file(tmp_path, con):
    """A raw row's `_row_number` is its line in its file (the header not counted) and
    `_delivery_row` its line within the delivery, files in name order: where a quarantined row
    is found again. The files are large enough for DuckDB to read each in parallel parts: copies
    of the fixture's lines with the invoice numbers shifted per copy, plain CSV, 20 MB each."""
    import csv

    header, *body = _fixture_lines()
    files = []
    for name, copies in (("b_orders.csv", range(0, 14)), ("a_orders.csv", range(14, 30))):
        lines = [header] + [f"{k}{line}" for k in copies for line in body]  # InvoiceNo first
        files.append(_write(tmp_path / name, lines))
    config = _orders_config(tmp_path, tmp_path / "*_orders.csv", delivery="snapshot")
    load_source(con, "order_lines", config, "run")

    offset = 0
    for path in sorted(files):  # a_orders.csv first
        with path.open(encoding="utf-8", newline="") as handle:
            expected = [[v or None for v in row] for row in list(csv.reader(handle))[1:]]
        raw = con.execute(
            "select _row_number, _delivery_row, columns(lambda c: not starts_with(c, '_'))"
            " from raw.order_lines where _source_file = $f order by _row_number",
            {"f": path.name},
        ).fetchall()
        assert [r[0] for r in raw] == list(range(1, len(expected) + 1))
        assert [r[1] for r in raw] == [offset + n for n in range(1, len(expected) + 1)]
        contract = list(config.contract)
        columns = [config.columns[c] for c in contract]
        with path.open(encoding="utf-8", newline="") as handle:
            names = next(csv.reader(handle))
        order = [names.index(c) for c in columns]
        assert [list(r[2:]) for r in raw] == [[row[i] for i in order] for row in expected]
        offset += len(expected)


def test_a_batch_left_by_a_killed_run_is_not_shown_as_a_staged_table(con):
    """A staged batch lies beside the staged table until it is published (lib/staging): one a
    killed process left behind is work, not a stage, and the run summary does not count it."""
    from ai_roi.cli import _warehouse_summary
    from ai_roi.lib.staging import candidate_table
    from ai_roi.lib.warehouse import ensure_schemas

    ensure_schemas(con)
    con.execute("create table staged.order_lines as select 1 as n")
    con.execute(f"create table {candidate_table('order_lines')} as select 1 as n from range(3)")
    staged = [row for row in _warehouse_summary(con)["stages"] if row[0] == "staged"]
    assert staged == [("staged", "order_lines", 1)]


def test_asking_a_connection_its_engine_keeps_no_hold_on_it():
    """`engine_of` is asked of every connection a step opens: it must not keep them (a cache
    would hold every connection of a long-lived process, and could answer for a new connection
    from an old one's record)."""
    import gc
    import types
    import weakref

    from ai_roi.lib import postgres
    from ai_roi.lib.warehouse import engine_of

    server = postgres.Warehouse(types.SimpleNamespace(autocommit=False))
    held = weakref.ref(server)
    assert engine_of(server) == "postgres"
    del server
    gc.collect()
    assert held() is None


def test_a_file_with_windows_line_ends_loads_every_line(tmp_path, con):
    """A CSV export whose lines end in CR LF (as Banking77's do), compressed, loads the same rows
    as the same lines ending in LF. DuckDB's Python `read_csv` with strict_mode found no row in
    such a gzip file where its SQL read_csv finds them all."""
    lines = _fixture_lines(300)
    unix = tmp_path / "unix.csv.gz"
    windows = tmp_path / "windows.csv.gz"
    with gzip.open(unix, "wt", encoding="utf-8", newline="") as handle:
        handle.writelines(lines)
    with gzip.open(windows, "wt", encoding="utf-8", newline="") as handle:
        handle.writelines(line.rstrip("\n") + "\r\n" for line in lines)
    first = load_source(con, "order_lines", _orders_config(tmp_path, unix), "r1")
    second = load_source(con, "order_lines", _orders_config(tmp_path, windows), "r2")
    assert first.rows == second.rows == len(lines) - 1
