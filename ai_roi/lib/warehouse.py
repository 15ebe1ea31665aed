"""Warehouse helpers: schemas, SQL files, loading a source's files into the raw layer, and
reading a query's rows as polars or Arrow; DuckDB's, and PostgreSQL's where `engine_of` says so.

The raw layer keeps every distinct delivery of a source (append-only, one `_load_id` per delivery)
with what became of it in raw._loads. A delivery whose files and mapping were loaded before is not
loaded again, so a repeated run or a re-sent file never double-counts, and a bad delivery never
overwrites a good one.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from ai_roi.lib.dbt_sql import render, template
from ai_roi.sources import CsvOptions, SourceConfig, delivered_files

# the dbt macros it renders (lib.dbt_sql), its code as much as this module (lib.code_versions)
CODE_PATHS = (
    "dbt/macros/warehouse_tables.sql",
    "dbt/macros/files.sql",
    "dbt/macros/cross_engine.sql",
)

SCHEMAS = ("raw", "staged", "quarantine", "quality", "governance")


class IngestError(RuntimeError):
    """A source file cannot be read as configured; the message says which file and what to do."""


def engine_of(con) -> str:
    """The engine a warehouse connection runs on: "duckdb", or "postgres" for a
    lib.postgres.Warehouse (the raw load runs on both)."""
    return getattr(con, "engine", "duckdb")


def relation_columns(con, relation: str) -> list[str]:
    """The column names of a table, view or query (`relation`) on either engine."""
    return [d[0] for d in con.execute(f"select * from {relation} limit 0").description]


def read_frame(con, sql: str) -> pl.DataFrame:
    """The rows of a query as one polars frame, typed alike on either engine."""
    if engine_of(con) == "duckdb":
        return con.sql(sql).pl()
    return con.frame(sql)


@contextlib.contextmanager
def open_warehouse(*, read_only: bool = True) -> Iterator:
    """The warehouse the settings name (AI_ROI_WAREHOUSE), opened outside a Dagster step (the
    command line): the DuckDB file (read-only unless asked; the pipeline's memory limit) or the
    PostgreSQL database of libpq's PG* variables (lib.postgres.Warehouse)."""
    from ai_roi import settings

    if settings.warehouse_engine() == "postgres":
        from ai_roi.lib import postgres

        with postgres.connect() as pg:
            yield pg
        return
    con = duckdb.connect(
        str(settings.duckdb_path()), read_only=read_only, config=settings.duckdb_config()
    )
    try:
        yield con
    finally:
        con.close()


def insert_arrow(con, table: str, rows: pa.Table) -> None:
    """Append an Arrow table's rows to `table`, its columns by name, on either engine (in one
    statement on DuckDB, by COPY on PostgreSQL; a row at a time costs seconds per 10,000)."""
    if engine_of(con) != "duckdb":
        con.insert_arrow(table, rows)
        return
    con.register("_rows", rows)
    try:
        names = ", ".join(map(quote_ident, rows.column_names))
        con.execute(f"insert into {table} ({names}) select {names} from _rows")
    finally:
        con.unregister("_rows")


def fetch_frame(con, sql: str, params: dict | None = None):
    """The rows of a query as a pandas frame, on either engine (parameters on DuckDB only: a
    server's rows come out through COPY, which binds none)."""
    if engine_of(con) == "duckdb":
        return con.execute(sql, params or {}).df()
    if params:
        raise ValueError("fetch_frame binds no parameters on PostgreSQL: write them in the SQL")
    return con.frame(sql).to_pandas()


def read_batches(con, sql: str, rows: int) -> Iterator[pa.RecordBatch | pa.Table]:
    """The rows of a query in Arrow batches of about `rows` rows, so a large result is never
    held whole; typed alike on either engine."""
    if engine_of(con) == "duckdb":
        return iter(con.sql(sql).to_arrow_reader(batch_size=rows))
    return con.record_batches(sql, rows)


def hash_part(con, columns: list[str], parts: int) -> str:
    """SQL for a part number, 0 to `parts` - 1, from a hash of `columns`: rows that agree on them
    land in the same part (each engine hashes its own way, dbt/macros/cross_engine.sql `hash_part`;
    a part is never compared across engines)."""
    key = ", ".join(map(quote_ident, columns))
    return template(engine_of(con), "hash_part").format(key=key, parts=parts)


def parsed_json(value):
    """A JSON column's value as Python: DuckDB returns its text, psycopg the parsed value."""
    return json.loads(value) if isinstance(value, str) else value


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_fingerprint(columns: list[str], engine: str = "duckdb") -> str:
    """SQL for the fingerprint of a row over its text `columns`, to find exact copies.

    The md5 of the values written one after another, each as its length in bytes, ':' and
    itself, or '-' when null: no two rows of different values share that text (null, '' and
    '-' included). DuckDB and PostgreSQL (`engine`) compute it alike, to the character
    (tests/integration/test_postgres.py), unlike DuckDB's `hash()`.
    """
    length = template(engine, "byte_length")  # in bytes: characters cost twice as much
    values = (
        f"coalesce(cast({length.format(value=c)} as varchar) || ':' || {c}, '-')"
        for c in map(quote_ident, columns)
    )
    return f"md5({' || '.join(values)})"


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    """The rows of a query as dicts keyed by column name."""
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def has_table(con, schema: str, table: str) -> bool:
    """Whether the warehouse (either engine) holds the table `schema`.`table`."""
    return _has_relation(con, schema, table, "BASE TABLE")


def has_quality_mart(con) -> bool:
    """Whether dbt has built the view marts.mart_data_quality (it has not before the first run)."""
    return _has_relation(con, "marts", "mart_data_quality", "VIEW")


def has_relation(con, schema: str, name: str) -> bool:
    """Whether the warehouse (either engine) holds a table or view `schema`.`name`."""
    return _has_relation(con, schema, name, None)


def relation_names(
    con, schema: str, kind: str | None = None, catalog: str | None = None
) -> list[str]:
    """The names of the tables and views (`kind`: "BASE TABLE" or "VIEW" only) of `schema` in
    `catalog` (the warehouse's own database unless named), in order, on either engine."""
    return [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables"
            " where table_catalog = coalesce($catalog, current_database())"
            " and table_schema = $s and coalesce($kind, table_type) = table_type order by 1",
            {"catalog": catalog, "s": schema, "kind": kind},
        ).fetchall()
    ]


def _has_relation(con, schema: str, name: str, kind: str | None) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = $s"
            " and table_name = $t and coalesce($kind, table_type) = table_type",
            {"s": schema, "t": name, "kind": kind},
        ).fetchone()[0]
    )


def replace_table(con, schema: str, table: str, frame) -> None:
    """Replace `schema.table` with the rows of a pandas frame (the schema is created if new), on
    either engine."""
    if engine_of(con) != "duckdb":
        con.replace_frame(schema, table, frame)
        return
    con.execute(f"create schema if not exists {schema}")
    con.register("_frame", frame)
    try:
        rebuild_table(con, f"{schema}.{table}", "select * from _frame")
    finally:
        con.unregister("_frame")


def rebuild_table(con, table: str, sql: str) -> None:
    """Replace `table` with the rows of the query `sql` in one transaction, on either engine
    (PostgreSQL has no `create or replace table`)."""
    con.execute("begin transaction")
    try:
        con.execute(f"drop table if exists {table}")
        con.execute(f"create table {table} as {sql}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(render(engine_of(con), "warehouse_tables"))  # dbt/macros/warehouse_tables.sql


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadResult:
    """What one ingest did: the deliveries it found, new or not, and what raw now holds."""

    source: str
    load_id: str  # the newest delivery in play
    rows: int  # rows of every delivery in play (raw.<source>__current)
    reused: bool  # no new delivery: every file was loaded before
    files: list[dict]
    file_columns: list[str]
    deliveries: list[dict]  # [{load_id, status, rows, files, new}] of the files delivered now


def _read_file(con: duckdb.DuckDBPyConnection, fmt: str, csv: CsvOptions, path: Path):
    """A relation over one file with every column as text."""
    read = render(engine_of(con), "delivered_file", fmt)  # dbt/macros/files.sql
    try:
        if fmt == "parquet":
            rel = con.sql(read, params={"path": str(path)})
            return rel.project(
                ", ".join(f"{quote_ident(c)}::varchar as {quote_ident(c)}" for c in rel.columns)
            )
        return con.sql(
            read,
            params={
                "path": str(path),
                "header": csv.header,
                "delim": csv.delimiter,
                "quote": csv.quote,
                "encoding": csv.encoding,
            },
        )
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: cannot be read as {fmt} "
            f"(delimiter {csv.delimiter!r}, encoding {csv.encoding}): "
            f"{str(exc).splitlines()[0]}. Check the file is complete and the csv options in the "
            "source catalogue match it."
        ) from None


def _check_columns(source: str, path: Path, found: list[str], mapping: dict[str, str]) -> None:
    missing = [(canon, col) for canon, col in mapping.items() if col not in found]
    if not missing:
        return
    hints = []
    for canon, col in missing:
        close = difflib.get_close_matches(col, found, n=1, cutoff=0.6)
        hint = f" (did it become {close[0]!r}?)" if close else ""
        hints.append(f"{col!r} for {canon}{hint}")
    raise IngestError(
        f"{path}: missing column(s) {', '.join(hints)}. The file has {found}. "
        f"If a column was renamed, map it in the source catalogue under "
        f"sources.{source}.columns, or under files[].columns for these files only."
    )


def _fingerprint(config: SourceConfig, files: list[dict]) -> str:
    """sha256 of a delivery's files and how they are read; the same files read alike match."""
    payload = {
        "files": [(f["sha256"], f["partition"]) for f in files],
        "columns": files[0]["mapping"],
        "format": config.format,
        "csv": files[0]["csv"],
    }
    if any(f["mapping"] != files[0]["mapping"] or f["csv"] != files[0]["csv"] for f in files):
        payload["per_file"] = [(f["mapping"], f["csv"]) for f in files]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _file_infos(source: str, config: SourceConfig) -> list[dict]:
    infos = []
    for spec, path in delivered_files(config):
        if not path.exists():
            raise IngestError(
                f"{path}: file not found. Set sources.{source}.files[].path in the source catalogue."
            )
        size = path.stat().st_size
        if size == 0:
            raise IngestError(f"{path}: file is empty (0 bytes); the delivery was not loaded.")
        infos.append(
            {
                "path": str(path),
                "partition": spec.partition,
                "sha256": sha256_file(path),
                "bytes": size,
                "mapping": config.mapping_for(spec),
                "csv": config.csv_for(spec).model_dump(),
            }
        )
    return infos


def load_source(
    con: duckdb.DuckDBPyConnection, source: str, config: SourceConfig, run_id: str
) -> LoadResult:
    """Load the source's files into `raw.<source>`: each delivery not seen before, once.

    With `snapshot` all files together are one delivery, which replaces the previous one once it
    is published; otherwise every file is a delivery of its own, in play beside the accepted ones.
    A new delivery is pending until its staging publishes or refuses it (lib.staging). A file
    loaded before is not loaded again: accepted, it is a no-op; refused, it is judged again.
    """
    ensure_schemas(con)
    infos = _file_infos(source, config)
    table = f"raw.{source}"
    groups = [infos] if config.delivery == "snapshot" else [[info] for info in infos]
    if not infos:
        accepted = con.execute(
            "select count(*) from raw._loads where source = $s and status = 'accepted'",
            {"s": source},
        ).fetchone()[0]
        if not accepted:
            raise IngestError(
                f"{source}: no file matches sources.{source}.files "
                f"({', '.join(str(f.path) for f in config.files)}); nothing was loaded."
            )

    con.execute("begin transaction")
    try:
        _upgrade(con, table, list(config.contract))
        deliveries = [_deliver(con, source, config, group, run_id, table) for group in groups]
        delivered = [d["load_id"] for d in deliveries]
        ids = "(select unnest(cast($ids as varchar[])))"
        if config.delivery == "snapshot":
            current = f"load_id in {ids}"
        else:
            current = f"(status = 'accepted' or load_id in {ids})"
        con.execute(
            f"update raw._loads set is_current = {current} where source = $source",
            {"ids": delivered, "source": source},
        )
        con.execute(
            "update raw._loads set status = 'withdrawn', decided_at = $at"
            " where source = $source and status in ('pending', 'refused') and not is_current",
            {"source": source, "at": _now()},
        )
        con.execute(
            f"create or replace view {table}__current as select * from {table}"
            " where _load_id in (select load_id from raw._loads"
            f" where source = '{source}' and is_current)"
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    newest = con.execute(
        "select load_id, file_columns from raw._loads where source = $s and is_current"
        " order by loaded_at desc limit 1",
        {"s": source},
    ).fetchone()
    rows = con.execute(f"select count(*) from {table}__current").fetchone()[0]
    return LoadResult(
        source=source,
        load_id=newest[0],
        rows=rows,
        reused=not any(d["new"] for d in deliveries),
        files=infos,
        file_columns=parsed_json(newest[1]),
        deliveries=deliveries,
    )


def _upgrade(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    """Bring a raw table of an earlier layout up to date.

    - The delivery-wide row number: earlier deliveries numbered rows per file only; their rows get
      the number they would have had, files in name order (one file: the same number).
    - The row fingerprint: earlier rows carry DuckDB's `hash()` of their values; they get
      `row_fingerprint` over the source's columns, so copies of them in new deliveries are found.
    """
    if engine_of(con) != "duckdb":
        return  # the layouts upgraded here never existed on a server
    schema, name = table.split(".")
    if not has_table(con, schema, name):
        return
    hashed = con.execute(
        "select data_type from information_schema.columns where table_schema = $s"
        " and table_name = $t and column_name = '_row_hash'",
        {"s": schema, "t": name},
    ).fetchone()
    if hashed is not None and hashed[0] != "VARCHAR":
        con.execute(
            f"alter table {table} alter column _row_hash type varchar"
            f" using ({row_fingerprint(columns)})"
        )
    con.execute(f"alter table {table} add column if not exists _delivery_row bigint")
    # a row is one file's line of one delivery
    con.execute(
        f"update {table} as r set _delivery_row = n.rn from ("
        "select _load_id, _source_file, _row_number, row_number() over ("
        "partition by _load_id order by _source_file, _row_number) as rn"
        f" from {table} where _delivery_row is null) as n where r._load_id = n._load_id"
        " and r._source_file = n._source_file and r._row_number = n._row_number"
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _deliver(con, source, config, files, run_id, table) -> dict:
    """The delivery of `files`: the earlier one of the same fingerprint, or a new pending one."""
    fingerprint = _fingerprint(config, files)
    previous = con.execute(
        "select load_id, status, rows from raw._loads where source = $source"
        " and fingerprint = $fp order by loaded_at desc limit 1",
        {"source": source, "fp": fingerprint},
    ).fetchone()
    if previous is None:
        load_id, rows = _insert_delivery(con, source, config, files, fingerprint, run_id, table)
        status, new = "pending", True
    else:
        load_id, status, rows = previous
        new = False
        if status != "accepted":  # refused, superseded or withdrawn before: judge it again
            status = "pending"
            con.execute(
                "update raw._loads set status = 'pending', reason = null where load_id = $l",
                {"l": load_id},
            )
    return {
        "load_id": load_id,
        "status": status,
        "rows": rows,
        "new": new,
        "files": [Path(f["path"]).name for f in files],
    }


FILE_ROWS = "_file_rows"  # the temp table holding the rows of the file being loaded


def _insert_delivery(con, source, config, files, fingerprint, run_id, table):
    load_id = uuid.uuid4().hex
    loaded_at = _now()
    contract_cols = list(config.contract)
    columns_sql = ", ".join(f"{quote_ident(c)} varchar" for c in contract_cols)
    con.execute(
        f"create table if not exists {table} ({columns_sql}, _load_id varchar,"
        " _source_file varchar, _partition varchar, _row_number bigint, _row_hash varchar,"
        " _loaded_at timestamp, _delivery_row bigint)"
    )
    file_columns: list[str] = []
    total = 0
    # the delivered values' fingerprint, so exact copies can be found in any source
    row_hash = row_fingerprint(contract_cols)
    # the columns of `rows` below, in their order
    inserted = ", ".join(
        map(
            quote_ident,
            [*contract_cols, "_load_id", "_source_file", "_partition", "_row_number"]
            + ["_loaded_at", "_row_hash", "_delivery_row"],
        )
    )
    # a server warehouse receives the rows DuckDB reads from the file, in memory, by COPY
    on_server = engine_of(con) != "duckdb"
    reader = duckdb.connect() if on_server else con
    try:
        for info in files:
            path = Path(info["path"])
            mapping = info["mapping"]
            rel = _read_file(reader, config.format, CsvOptions(**info["csv"]), path)
            found = list(rel.columns)
            _check_columns(source, path, found, mapping)
            file_columns = found
            select = ", ".join(
                f"{quote_ident(mapping[c])} as {quote_ident(c)}"
                if c in mapping
                else f"null::varchar as {quote_ident(c)}"
                for c in contract_cols
            )
            # The file's rows are numbered by their place in a table of their own: its row ids
            # follow the file's order, from the first one the table was given (inside the load's
            # transaction they do not start at 0). Numbered by `row_number() over ()` as they were
            # read, everything after the window (the fingerprints, the insert) ran on one core:
            # twice as long.
            # DuckDB reads the file (in memory beside a server warehouse): its spelling of a
            # stored row's id
            row_id = template(engine_of(reader), "row_id_read").format(name="_file_row")
            rows = (
                f"select *, {row_hash} as _row_hash, _row_number + $offset as _delivery_row from ("
                f"select {select}, $load_id as _load_id, $file as _source_file,"
                f" $partition as _partition, {row_id} - (select min({row_id}) from {FILE_ROWS})"
                f" + 1 as _row_number, $loaded_at as _loaded_at from {FILE_ROWS})"
            )
            values = {
                "load_id": load_id,
                "file": path.name,
                "partition": info["partition"],
                "loaded_at": loaded_at,
                "offset": total,
            }
            try:
                reader.execute(f"drop table if exists {FILE_ROWS}")
                reader.execute(f"create temp table {FILE_ROWS} as select * from rel")
                if on_server:
                    result = reader.sql(rows, params=values)
                    info["rows"] = con.copy_rows(table, result.columns, result)
                else:  # an insert returns the rows it added
                    added = con.execute(f"insert into {table} ({inserted}) {rows}", values)
                    info["rows"] = added.fetchone()[0]
            except duckdb.Error as exc:
                raise IngestError(
                    f"{path}: could not be parsed: {str(exc).splitlines()[0]}. The file may be "
                    "truncated or use another delimiter/encoding than the source catalogue says."
                ) from None
            finally:
                # after a failed read the transaction is aborted and its rollback drops the table
                with contextlib.suppress(duckdb.Error):
                    reader.execute(f"drop table if exists {FILE_ROWS}")
            total += info["rows"]
    finally:
        if on_server:
            reader.close()
    con.execute(
        "insert into raw._loads (load_id, source, fingerprint, files, rows, file_columns,"
        " loaded_at, run_id, is_current, status, policy, mapping) values ($load_id, $source,"
        " $fp, $files, $rows, $cols, $at, $run_id, false, 'pending', $policy, $mapping)",
        {
            "load_id": load_id,
            "source": source,
            "fp": fingerprint,
            "files": json.dumps(
                [{k: v for k, v in f.items() if k not in ("mapping", "csv")} for f in files]
            ),
            "rows": total,
            "cols": json.dumps(file_columns),
            "at": loaded_at,
            "run_id": run_id,
            "policy": config.delivery,
            "mapping": json.dumps(files[-1]["mapping"]),
        },
    )
    return load_id, total
