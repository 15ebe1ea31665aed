"""A table's content as one text, to prove two DuckDB builds hold the same rows."""

from __future__ import annotations

import duckdb


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Order-independent content hash of a DuckDB table (DuckDB's own `hash()`: compared only
    with the same engine's; across engines, lib.postgres.first_difference compares value by value)."""
    row = con.execute(
        f"select count(*), coalesce(sum(hash(t)), 0), coalesce(bit_xor(hash(t)), 0) from {table} t"
    ).fetchone()
    return f"{row[0]}:{row[1]}:{row[2]}"
