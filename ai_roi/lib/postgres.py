"""Tables from the DuckDB warehouse into PostgreSQL, typed as they are, with COPY; and a
PostgreSQL warehouse (`Warehouse`) that runs the layers written for both engines: the raw load,
and the checks, which read its rows back as Arrow (`Warehouse.record_batches`).

The server warehouse is built by dbt's Postgres adapter from the same sources as the embedded
one. Until the raw and staged layers run on Postgres themselves, their tables (the dbt sources:
staged rows, quarantine, quality history, ML outputs, ROI scenarios) are copied across typed
column by column, so both engines build the marts from identical input and any difference in a
mart is a difference of the SQL (tests/integration/test_postgres.py).

`publish_tables` puts the marts of the DuckDB warehouse on a PostgreSQL server for BI tools, in one
transaction, keeping what consumers built on them (tests/integration/test_marts_server.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from ai_roi.lib.warehouse import relation_columns

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


def _duckdb_columns(duck: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    columns = duck.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = $s and table_name = $t order by ordinal_position",
        {"s": schema, "t": table},
    ).fetchall()
    if not columns:
        raise ValueError(f"{schema}.{table} is not in the DuckDB warehouse")
    return columns


def _create_and_copy(duck, cur, schema: str, table: str, target: str, columns=None) -> int:
    """Create `target` (a quoted PostgreSQL name) typed as DuckDB's `schema.table` is (its
    `columns`, looked up when not given), and COPY its rows into it; the rows copied."""
    columns = columns or _duckdb_columns(duck, schema, table)
    cur.execute(
        f"create table {target} ("
        + ", ".join(f"{_ident(c)} {pg_type(t)}" for c, t in columns)
        + ")"
    )
    # JSON travels as its text; everything else as DuckDB gives it to Arrow
    select = ", ".join(
        f"{_ident(c)}::varchar" if t.upper() == "JSON" else _ident(c) for c, t in columns
    )
    rows = duck.sql(f"select {select} from {_ident(schema)}.{_ident(table)}")
    return _copy(cur, target, [c for c, _ in columns], rows.to_arrow_reader(BATCH_ROWS))


def _as_csv(kind: pa.DataType) -> bool:
    """Whether Arrow writes a value of this type as text PostgreSQL's CSV COPY reads back equal:
    numbers (doubles to their shortest exact form), decimals, text, booleans, dates and times;
    not lists, structs, intervals or bytes."""
    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_null(kind)
    )


def _copy(cur, target: str, columns: list[str], batches: pa.RecordBatchReader) -> int:
    """COPY Arrow record batches (from DuckDB) into `target` (a quoted name); the rows copied.

    As CSV written by Arrow where every column type allows it: a null is an empty field and an
    empty text `""`, so both arrive as they were. Otherwise row by row through psycopg, which
    turns lists into arrays.
    """
    names = ", ".join(_ident(c) for c in columns)
    copied = 0
    if all(_as_csv(field.type) for field in batches.schema):
        options = pa_csv.WriteOptions(include_header=False)
        with cur.copy(f"copy {target} ({names}) from stdin with (format csv)") as copy:
            for batch in batches:
                text = io.BytesIO()
                pa_csv.write_csv(batch, text, options)
                copy.write(text.getbuffer())
                copied += batch.num_rows
        return copied
    with cur.copy(f"copy {target} ({names}) from stdin") as copy:
        for batch in batches:
            for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                copy.write_row(row)
            copied += batch.num_rows
    return copied


def copy_tables(duck: duckdb.DuckDBPyConnection, pg, tables: Iterable[tuple[str, str]]) -> dict:
    """Copy each (schema, table) of `duck` into the same place in `pg` (a psycopg connection),
    replacing what is there; returns the rows copied per table."""
    copied = {}
    for schema, table in tables:
        columns = _duckdb_columns(duck, schema, table)  # a missing table named before any drop
        target = f"{_ident(schema)}.{_ident(table)}"
        with pg.cursor() as cur:
            cur.execute(f"create schema if not exists {_ident(schema)}")
            cur.execute(f"drop table if exists {target} cascade")
            copied[f"{schema}.{table}"] = _create_and_copy(
                duck, cur, schema, table, target, columns
            )
    pg.commit()
    return copied


_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def server_name() -> str:
    """The database libpq's PG* variables name, for a person: `ai_roi on 127.0.0.1:5432`."""
    import os

    return (
        f"{os.environ.get('PGDATABASE', os.environ.get('PGUSER', '?'))} on "
        f"{os.environ.get('PGHOST', 'localhost')}:{os.environ.get('PGPORT', '5432')}"
    )


@contextlib.contextmanager
def connect() -> Iterator[Warehouse]:
    """The PostgreSQL warehouse libpq's PG* variables name (never a connection string in
    code), closed when the block ends."""
    import psycopg

    with psycopg.connect() as conn:
        yield Warehouse(conn)


class Warehouse:
    """A PostgreSQL warehouse that runs the pipeline's SQL as a DuckDB connection does.

    The layers written for both engines (lib/warehouse.py's raw load so far) call `execute`
    with DuckDB's `$name` parameters, manage their transactions with `begin transaction` /
    `commit` / `rollback`, and read `fetchone()` / `fetchall()`; `engine` tells them apart
    (lib.warehouse.engine_of) where the engines need different code. Parameters are bound by
    psycopg, never pasted into the SQL.
    """

    engine = "postgres"

    def __init__(self, conn) -> None:
        conn.autocommit = True  # transactions are the SQL's own, as on DuckDB
        self.conn = conn

    def execute(self, sql: str, params: dict | None = None):
        if params:
            sql = _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))
        return self.conn.execute(sql, params or None)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        """Run `sql` once per row of values, given by position (`?`) as DuckDB takes them: every
        `?` in `sql` is a parameter."""
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("%", "%%").replace("?", "%s"), rows)

    def copy_rows(self, table: str, columns: list[str], rows: duckdb.DuckDBPyRelation) -> int:
        """COPY the rows of a DuckDB relation into `table` (a quoted name); the rows copied."""
        with self.conn.cursor() as cur:
            return _copy(cur, table, columns, rows.to_arrow_reader(BATCH_ROWS))

    def insert_arrow(self, table: str, rows: pa.Table) -> int:
        """COPY an Arrow table's rows into `table` (a quoted name), its columns by name."""
        with self.conn.cursor() as cur:
            return _copy(cur, table, rows.column_names, rows.to_reader(BATCH_ROWS))

    def replace_frame(self, schema: str, table: str, frame) -> None:
        """Replace `schema.table` with the rows of a pandas frame, typed as DuckDB types them
        (lib.warehouse.replace_table's table on DuckDB), in one transaction. Views built on the
        table go with it (dbt builds them again), as DuckDB replaces a table under its views."""
        target = f"{_ident(schema)}.{_ident(table)}"
        with duckdb.connect() as duck:
            duck.register("_frame", frame)
            duck.execute("create table _rows as select * from _frame")
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(f"create schema if not exists {_ident(schema)}")
                cur.execute(f"drop table if exists {target} cascade")
                _create_and_copy(duck, cur, "main", "_rows", target)

    def record_batches(self, sql: str, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        """The rows of a query as Arrow tables of at least `batch_rows` rows each (the last one
        smaller), typed as the query's columns are (`arrow_type`); none for no rows.

        COPY'd out as CSV, as `_copy` writes it in: a null is an empty field, an empty text `""`;
        an array as its JSON text, turned back into a list here.
        """
        schema = self.result_schema(sql)
        lists = {f.name for f in schema if pa.types.is_list(f.type)}
        as_text = pa.schema(
            [pa.field(f.name, pa.string()) if f.name in lists else f for f in schema]
        )
        columns = ", ".join(
            f"array_to_json({_ident(f.name)})::text" if f.name in lists else _ident(f.name)
            for f in schema
        )
        copy_out = f"copy (select {columns} from ({sql}) as q) to stdout with (format csv)"
        with self.conn.cursor() as cur, cur.copy(copy_out) as copy:
            stream = io.BufferedReader(_CopyOut(copy), buffer_size=1 << 20)
            if not stream.peek(1):
                return
            held: list[pa.RecordBatch] = []
            for batch in pa_csv.open_csv(stream, **_csv_read_options(as_text)):
                held.append(batch)
                if sum(b.num_rows for b in held) >= batch_rows:
                    yield _with_lists(pa.Table.from_batches(held, as_text), schema)
                    held = []
            if held:
                yield _with_lists(pa.Table.from_batches(held, as_text), schema)

    def frame(self, sql: str) -> pl.DataFrame:
        """The rows of a query as one polars frame, typed as DuckDB's `.pl()` types them."""
        tables = list(self.record_batches(sql, batch_rows=1 << 62))
        return pl.from_arrow(tables[0] if tables else self.result_schema(sql).empty_table())

    def result_schema(self, sql: str) -> pa.Schema:
        """The Arrow types of a query's columns (`arrow_type`), read without running it."""
        with self.conn.cursor() as cur:
            cur.execute(f"select * from ({sql}) as q limit 0")
            return pa.schema([pa.field(c.name, arrow_type(c)) for c in cur.description])


def _with_lists(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with each column `schema` types as a list read from its JSON text (in Python:
    arrays are rare in the warehouse, a few short lists per row)."""
    for i, field in enumerate(schema):
        if pa.types.is_list(field.type):
            texts = table.column(i).to_pylist()
            values = [None if t is None else json.loads(t) for t in texts]
            table = table.set_column(i, field, pa.array(values, type=field.type))
    return table


def _csv_read_options(schema: pa.Schema) -> dict:
    """How Arrow reads PostgreSQL's CSV back: typed by `schema`, an empty field null and a
    quoted empty one an empty text, `t`/`f` booleans, line breaks inside quoted values."""
    return {
        "read_options": pa_csv.ReadOptions(column_names=schema.names, block_size=16 << 20),
        "parse_options": pa_csv.ParseOptions(newlines_in_values=True),
        "convert_options": pa_csv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    }


class _CopyOut(io.RawIOBase):
    """The data of a running `COPY … TO STDOUT` as a readable binary stream."""

    def __init__(self, copy) -> None:
        self._copy, self._rest = copy, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            chunk = self._copy.read()
            if not chunk:
                return 0
            self._rest = memoryview(chunk)
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


# PostgreSQL type (by its oid) -> the Arrow type DuckDB gives the same column; numeric by its
# precision and scale (`arrow_type`)
_ARROW_TYPES = {
    16: pa.bool_(),  # boolean
    20: pa.int64(),  # bigint
    21: pa.int16(),  # smallint
    23: pa.int32(),  # integer
    25: pa.string(),  # text
    114: pa.string(),  # json: its text
    700: pa.float32(),  # real
    701: pa.float64(),  # double precision
    1042: pa.string(),  # character
    1043: pa.string(),  # character varying
    1082: pa.date32(),  # date
    1114: pa.timestamp("us"),  # timestamp
    3802: pa.string(),  # jsonb: its text
}
_NUMERIC = 1700
# arrays (oid) -> the type of their elements
_ARRAY_TYPES = {
    1000: pa.bool_(),  # boolean[]
    1007: pa.int32(),  # integer[]
    1009: pa.string(),  # text[]
    1015: pa.string(),  # character varying[]
    1016: pa.int64(),  # bigint[]
    1022: pa.float64(),  # double precision[]
}


def arrow_type(column) -> pa.DataType:
    """The Arrow type of a column of a psycopg cursor's description."""
    if column.type_code == _NUMERIC:
        if column.precision is None:  # an unconstrained numeric (an average, a ratio): a double,
            return pa.float64()  # as DuckDB types such a computation
        return pa.decimal128(column.precision, column.scale or 0)
    if column.type_code in _ARRAY_TYPES:
        return pa.list_(_ARRAY_TYPES[column.type_code])
    if column.type_code not in _ARROW_TYPES:
        raise ValueError(
            f"column {column.name!r}: no Arrow type is mapped for its PostgreSQL type"
            f" (oid {column.type_code}, {column.type_display}); cast it in the query"
        )
    return _ARROW_TYPES[column.type_code]


class PublishError(RuntimeError):
    """The marts could not be published; the server still holds the ones published before."""


_COLUMN_TYPES = (
    "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
    " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped"
    " order by a.attnum"
)


def publish_tables(
    duck: duckdb.DuckDBPyConnection, pg, schema: str, tables: Iterable[str], reader: str | None
) -> dict[str, int]:
    """Publish DuckDB's `schema`.`tables` to the same schema of `pg`, in one transaction.

    Readers of the server (a BI tool) see the tables published before or the new ones, never a
    mix. A table whose columns keep their names and types keeps its identity, so the views and
    grants consumers built on it stay; one whose columns changed is replaced, and where a view
    of theirs depends on it, nothing is published and the error names the view. `reader` (a
    role) may read the schema and nothing else it is not granted elsewhere. Tables of the
    schema that DuckDB no longer has are left as they are. Returns the rows published per table.
    """
    published = {}
    try:
        with pg.transaction(), pg.cursor() as cur:
            cur.execute(f"create schema if not exists {_ident(schema)}")
            for table in tables:
                name = f"{_ident(schema)}.{_ident(table)}"
                incoming = f"{_ident(schema)}.{_ident(table + '__publishing')}"
                cur.execute(f"drop table if exists {incoming}")
                published[table] = _create_and_copy(duck, cur, schema, table, incoming)
                before = cur.execute(_COLUMN_TYPES, (name,)).fetchall()
                if before == cur.execute(_COLUMN_TYPES, (incoming,)).fetchall():
                    cur.execute(f"truncate {name}")
                    cur.execute(f"insert into {name} select * from {incoming}")
                    cur.execute(f"drop table {incoming}")
                    continue
                if before:
                    _drop_replaced(cur, schema, table, name)
                cur.execute(f"alter table {incoming} rename to {_ident(table)}")
            if reader:
                cur.execute(f"grant usage on schema {_ident(schema)} to {_ident(reader)}")
                cur.execute(
                    f"grant select on all tables in schema {_ident(schema)} to {_ident(reader)}"
                )
    except PublishError:
        raise
    except Exception as exc:
        raise PublishError(
            f"publishing {schema} to PostgreSQL failed, so nothing was published and the server "
            f"keeps the tables published before: {str(exc).strip().splitlines()[0]}"
        ) from exc
    return published


def _drop_replaced(cur, schema: str, table: str, name: str) -> None:
    dependents = [
        view
        for (view,) in cur.execute(
            "select distinct n.nspname || '.' || v.relname from pg_depend d"
            " join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class"
            " join pg_namespace n on n.oid = v.relnamespace"
            " where d.refobjid = to_regclass(%s) and v.oid <> d.refobjid order by 1",
            (name,),
        ).fetchall()
    ]
    if dependents:
        raise PublishError(
            f"{schema}.{table} changed its columns, and {', '.join(dependents)} on the server "
            f"depend(s) on it: nothing was published, the server keeps the tables published "
            f"before. Drop or adapt those views, then publish again."
        )
    cur.execute(f"drop table {name}")


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


def relation_rows(
    con, schema: str, table: str, json_columns: set[str], columns: list[str] | None = None
) -> tuple[list, list]:
    """The columns (all, or `columns`) and the rows of a relation in canonical form, sorted,
    from either engine."""
    chosen = ", ".join(map(_ident, columns)) if columns else "*"
    cur = con.execute(f"select {chosen} from {_ident(schema)}.{_ident(table)}")
    columns = [d[0] for d in cur.description]
    is_json = [c in json_columns for c in columns]
    rows = [
        tuple(_canonical(v, j) for v, j in zip(row, is_json, strict=True)) for row in cur.fetchall()
    ]
    return columns, sorted(rows, key=_sort_key)


# What two builds of the same input have of their own, left out where their marts are compared:
# the ids and times of their deliveries and runs (a delivery's id is drawn when it is loaded, and
# an order line's id carries it), and the MLflow run and registry version a backtest came from
# (the registry numbers each model's versions itself).
BUILD_OWN_COLUMNS = frozenset(
    {
        "load_id",
        "run_id",
        "loaded_at",
        "evaluated_at",
        "order_line_id",
        "mlflow_run_id",
        "model_version",
    }
)


def first_difference(
    duck: duckdb.DuckDBPyConnection, pg, schema: str, table: str, ignore: Iterable[str] = ()
) -> str | None:
    """None where the relation holds the same rows on both engines; else what differs first:
    the columns, the row count, or the first differing row of each, in canonical order. The
    columns in `ignore` are left out of the rows (both engines must have the same columns)."""
    json_columns = {
        c
        for (c,) in duck.execute(
            "select column_name from information_schema.columns where table_schema = $s"
            " and table_name = $t and data_type = 'JSON'",
            {"s": schema, "t": table},
        ).fetchall()
    }
    name = f"{schema}.{table}"
    relation = f"{_ident(schema)}.{_ident(table)}"
    everything, theirs = relation_columns(duck, relation), relation_columns(pg, relation)
    if everything != theirs:
        return f"{name}: columns differ: DuckDB {everything}, PostgreSQL {theirs}"
    kept = [c for c in everything if c not in set(ignore)]
    duck_columns, duck_rows = relation_rows(duck, schema, table, json_columns, kept)
    pg_columns, pg_rows = relation_rows(pg.cursor(), schema, table, json_columns, kept)
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
