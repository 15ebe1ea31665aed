"""Tables from the DuckDB warehouse into PostgreSQL, typed as they are, with COPY.

The server warehouse is built by dbt's Postgres adapter from the same sources as the embedded
one. Until the raw and staged layers run on Postgres themselves, their tables (the dbt sources:
staged rows, quarantine, quality history, ML outputs, ROI scenarios) are copied across typed
column by column, so both engines build the marts from identical input and any difference in a
mart is a difference of the SQL (tests/integration/test_postgres.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from decimal import Decimal

import duckdb

BATCH_ROWS = 50_000

# DuckDB type name -> PostgreSQL type; DECIMAL(p,s) and lists are handled by `pg_type`
_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(38, 0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "jsonb",
    "BLOB": "bytea",
}


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL type that holds a DuckDB column's values unchanged."""
    name = duckdb_type.upper()
    if name.endswith("[]"):
        return pg_type(name[:-2]) + "[]"
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", name)
    if decimal:
        return f"numeric({decimal.group(1)}, {decimal.group(2)})"
    if name not in _TYPES:
        raise ValueError(f"no PostgreSQL type for the DuckDB type {duckdb_type}")
    return _TYPES[name]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dbt_sources(manifest: dict) -> list[tuple[str, str]]:
    """(schema, table) of every source a dbt manifest declares: what a build reads."""
    return sorted({(s["schema"], s["identifier"]) for s in manifest["sources"].values()})


def dbt_models(manifest: dict) -> list[tuple[str, str]]:
    """(schema, relation) of every model a dbt manifest declares: what a build writes."""
    return sorted(
        (n["schema"], n["alias"])
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
    )


def copy_tables(duck: duckdb.DuckDBPyConnection, pg, tables: Iterable[tuple[str, str]]) -> dict:
    """Copy each (schema, table) of `duck` into the same place in `pg` (a psycopg connection),
    replacing what is there; returns the rows copied per table."""
    copied = {}
    for schema, table in tables:
        columns = duck.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = $s and table_name = $t order by ordinal_position",
            {"s": schema, "t": table},
        ).fetchall()
        if not columns:
            raise ValueError(f"{schema}.{table} is not in the DuckDB warehouse")
        target = f"{_ident(schema)}.{_ident(table)}"
        names = ", ".join(_ident(c) for c, _ in columns)
        with pg.cursor() as cur:
            cur.execute(f"create schema if not exists {_ident(schema)}")
            cur.execute(f"drop table if exists {target} cascade")
            cur.execute(
                f"create table {target} ("
                + ", ".join(f"{_ident(c)} {pg_type(t)}" for c, t in columns)
                + ")"
            )
            # JSON travels as its text; everything else as DuckDB's Python values
            select = ", ".join(
                f"{_ident(c)}::varchar" if t.upper() == "JSON" else _ident(c) for c, t in columns
            )
            result = duck.execute(f"select {select} from {_ident(schema)}.{_ident(table)}")
            rows = 0
            with cur.copy(f"copy {target} ({names}) from stdin") as copy:
                while batch := result.fetchmany(BATCH_ROWS):
                    for row in batch:
                        copy.write_row(row)
                    rows += len(batch)
        copied[f"{schema}.{table}"] = rows
    pg.commit()
    return copied


# Two engines agree on a double to its last few bits only (sums in another order, quantiles
# interpolated by another formula): a value is the same within this relative tolerance.
REL_TOL = 1e-9


def _canonical(value, is_json: bool):
    """One Python form for a value either engine returns."""
    if is_json and value is not None:
        return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return tuple(_canonical(v, False) for v in value)
    return value


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sort_key(row: tuple) -> tuple:
    # every number by its value to 6 significant digits, whatever Python type the engine's driver
    # gave it (a bigint in DuckDB is a numeric in PostgreSQL), so that the rows of both sort alike
    return tuple(
        (0, "") if v is None else (1, float(f"{v:.6g}")) if _is_number(v) else (2, str(v))
        for v in row
    )


def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b) and (isinstance(a, float) or isinstance(b, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=REL_TOL)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def relation_rows(con, schema: str, table: str, json_columns: set[str]) -> tuple[list, list]:
    """The columns and the rows of a relation in canonical form, sorted, from either engine."""
    cur = con.execute(f"select * from {_ident(schema)}.{_ident(table)}")
    columns = [d[0] for d in cur.description]
    is_json = [c in json_columns for c in columns]
    rows = [
        tuple(_canonical(v, j) for v, j in zip(row, is_json, strict=True)) for row in cur.fetchall()
    ]
    return columns, sorted(rows, key=_sort_key)


def first_difference(duck: duckdb.DuckDBPyConnection, pg, schema: str, table: str) -> str | None:
    """None where the relation holds the same rows on both engines; else what differs first:
    the columns, the row count, or the first differing row of each, in canonical order."""
    json_columns = {
        c
        for (c,) in duck.execute(
            "select column_name from information_schema.columns where table_schema = $s"
            " and table_name = $t and data_type = 'JSON'",
            {"s": schema, "t": table},
        ).fetchall()
    }
    duck_columns, duck_rows = relation_rows(duck, schema, table, json_columns)
    pg_columns, pg_rows = relation_rows(pg.cursor(), schema, table, json_columns)
    name = f"{schema}.{table}"
    if duck_columns != pg_columns:
        return f"{name}: columns differ: DuckDB {duck_columns}, PostgreSQL {pg_columns}"
    if len(duck_rows) != len(pg_rows):
        return f"{name}: DuckDB has {len(duck_rows)} rows, PostgreSQL {len(pg_rows)}"
    for i, (d, p) in enumerate(zip(duck_rows, pg_rows, strict=True)):
        if not _same(d, p):
            cells = [
                f"{c}: DuckDB {a!r}, PostgreSQL {b!r}"
                for c, a, b in zip(duck_columns, d, p, strict=True)
                if not _same(a, b)
            ]
            return f"{name}: row {i + 1} of {len(duck_rows)} differs in " + "; ".join(cells)
    return None


def differences(duck: duckdb.DuckDBPyConnection, pg, relations: Iterable[tuple[str, str]]) -> list:
    """`first_difference` of each (schema, relation) that differs between the two engines."""
    found = (first_difference(duck, pg, schema, table) for schema, table in relations)
    return [d for d in found if d]
