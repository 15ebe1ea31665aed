"""The raw layer on PostgreSQL: the same load (lib/warehouse.py) into a server holds what it holds
in DuckDB, finds the same copies across deliveries, and keeps what is stored when a file is bad.

Each test loads the fixtures into a DuckDB file and into a real throw-away PostgreSQL
(scripts/local_postgres.py) through lib.postgres.Warehouse, and compares the two.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import yaml

from ai_roi.lib.warehouse import IngestError, load_source
from ai_roi.sources import load_catalog
from scripts.ci_config import catalog_dict
from tests.conftest import FIXTURES

SOURCES = ("order_lines", "ticket_events", "messages")
# a delivery's id and the moment it was loaded are each warehouse's own
OWN = {"_load_id", "_loaded_at"}


def _config(tmp_path: Path, source: str, files: dict | None = None, **fields):
    path = tmp_path / "sources.yaml"
    overrides = {source: fields} if fields else {}
    path.write_text(yaml.safe_dump(catalog_dict(files, **overrides)), encoding="utf-8")
    return getattr(load_catalog(path), source)


def _raw(con, source: str) -> list[tuple]:
    """The rows in play of a source, its warehouse's own ids and times left out, in file order."""
    columns = [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw'"
            " and table_name = $t order by ordinal_position",
            {"t": source},
        ).fetchall()
        if c not in OWN
    ]
    select = ", ".join(f'"{c}"' for c in columns)
    return sorted(
        con.execute(f"select {select} from raw.{source}__current").fetchall(),
        key=lambda row: (row[columns.index("_source_file")], row[columns.index("_row_number")]),
    )


def _loads(con) -> list[tuple]:
    return sorted(
        con.execute(
            "select source, fingerprint, rows, status, is_current, policy, run_id from raw._loads"
        ).fetchall()
    )


def test_every_source_loads_into_postgres_as_into_duckdb(engines, tmp_path):
    duck, pg = engines
    for source in SOURCES:
        config = _config(tmp_path, source)
        in_duckdb = load_source(duck, source, config, "run-1")
        on_server = load_source(pg, source, config, "run-1")
        assert (on_server.rows, on_server.file_columns) == (
            in_duckdb.rows,
            in_duckdb.file_columns,
        )
        rows = _raw(duck, source)
        assert len(rows) == in_duckdb.rows > 0
        assert _raw(pg, source) == rows, source
    assert _loads(pg) == _loads(duck)
    # the same files once more: nothing new on either
    for source in SOURCES:
        assert load_source(pg, source, _config(tmp_path, source), "run-2").reused
    assert _loads(pg) == _loads(duck)


def _lines(count: int) -> list[str]:
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        return handle.readlines()[:count]


def test_copies_across_deliveries_match_alike_and_a_bad_file_changes_nothing_stored(
    engines, tmp_path
):
    """Two overlapping order-line files, each a delivery of its own: the rows of the second that
    copy rows of the first are the same rows on both engines. Then a new file and a truncated
    one: the server refuses the load as DuckDB does, and holds exactly what it held before."""
    duck, pg = engines
    lines = _lines(601)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("".join(lines[:401]), encoding="utf-8")
    second.write_text("".join([lines[0], *lines[201:601]]), encoding="utf-8")
    files = {"order_lines": [{"path": str(first)}, {"path": str(second)}]}
    config = _config(tmp_path, "order_lines", files, delivery="append")

    copies = (
        "select b._source_file, b._row_number from raw.order_lines as b"
        " where b._source_file = 'second.csv' and b._row_hash in"
        " (select _row_hash from raw.order_lines where _source_file = 'first.csv')"
    )
    found = {}
    for name, con in (("duckdb", duck), ("postgres", pg)):
        load_source(con, "order_lines", config, "run-1")
        found[name] = sorted(con.execute(copies).fetchall())
    overlap = set(lines[1:401])
    assert len(found["duckdb"]) == sum(line in overlap for line in lines[201:601]) > 0
    assert found["postgres"] == found["duckdb"]

    # a good new file, then a cut one: the load stops at the second, and the first is undone
    third = tmp_path / "third.csv"
    third.write_text("".join([lines[0], *_lines(801)[601:]]), encoding="utf-8")
    data = (FIXTURES / "order_lines.csv.gz").read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    files["order_lines"] += [{"path": str(third)}, {"path": str(cut)}]
    config = _config(tmp_path, "order_lines", files, delivery="append")
    stored = "select count(*) from raw.order_lines"  # every row, of any delivery
    before = _raw(pg, "order_lines"), _loads(pg), pg.execute(stored).fetchone()
    with pytest.raises(IngestError, match="cut.csv.gz"):
        load_source(pg, "order_lines", config, "run-2")
    assert (_raw(pg, "order_lines"), _loads(pg), pg.execute(stored).fetchone()) == before
    assert _raw(pg, "order_lines") == _raw(duck, "order_lines")


def test_the_server_binds_duckdb_style_parameters_and_keeps_a_literal_percent_sign(engines):
    """lib.postgres.Warehouse turns `$name` into psycopg's parameters; a `%` in the SQL stays a
    character, not the start of a psycopg placeholder."""
    _, pg = engines
    row = pg.execute("select $n || '%', $n || '%s'", {"n": "50"}).fetchone()
    assert row == ("50%", "50%s")
