"""DuckDB helpers: schemas, SQL files, and loading a source's files into the raw layer.

The raw layer keeps every distinct delivery of a source (append-only, one `_load_id` per delivery)
and marks one as current. A delivery whose files and mapping were loaded before is not loaded
again, so a repeated run or a re-sent file never double-counts, and a bad delivery never
overwrites a good one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from dagster_project.sources import SourceConfig

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
SCHEMAS = ("raw", "staged", "quarantine", "quality", "governance")


class IngestError(RuntimeError):
    """A source file cannot be read as configured; the message says which file and what to do."""


@cache
def load_sql(name: str) -> str:
    """Text of `sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    """The rows of a query as dicts keyed by column name."""
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def has_quality_mart(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether dbt has built the view marts.mart_data_quality (it has not before the first run)."""
    return bool(
        con.execute(
            "select count(*) from duckdb_views() where schema_name = 'marts'"
            " and view_name = 'mart_data_quality'"
        ).fetchone()[0]
    )


def replace_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, frame) -> None:
    """Replace `schema.table` with the rows of a pandas frame (the schema is created if new)."""
    con.execute(f"create schema if not exists {schema}")
    con.register("_frame", frame)
    try:
        con.execute(f"create or replace table {schema}.{table} as select * from _frame")
    finally:
        con.unregister("_frame")


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(load_sql("warehouse/create_tables"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadResult:
    source: str
    load_id: str
    rows: int
    reused: bool
    files: list[dict]
    file_columns: list[str]


def _read_file(con: duckdb.DuckDBPyConnection, config: SourceConfig, path: Path):
    """A relation over one file with every column as text."""
    try:
        if config.format == "parquet":
            rel = con.sql("select * from read_parquet($path)", params={"path": str(path)})
            return rel.project(
                ", ".join(f"{quote_ident(c)}::varchar as {quote_ident(c)}" for c in rel.columns)
            )
        opts = config.csv
        return con.sql(
            "select * from read_csv($path, all_varchar = true, header = $header, delim = $delim,"
            " quote = $quote, encoding = $encoding, strict_mode = true)",
            params={
                "path": str(path),
                "header": opts.header,
                "delim": opts.delimiter,
                "quote": opts.quote,
                "encoding": opts.encoding,
            },
        )
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: cannot be read as {config.format} "
            f"(delimiter {config.csv.delimiter!r}, encoding {config.csv.encoding}): "
            f"{str(exc).splitlines()[0]}. Check the file is complete and the csv options in the "
            "source catalogue match it."
        ) from None


def _check_columns(source: str, path: Path, found: list[str], config: SourceConfig) -> None:
    missing = [(canon, col) for canon, col in config.columns.items() if col not in found]
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
        f"sources.{source}.columns."
    )


def _fingerprint(config: SourceConfig, files: list[dict]) -> str:
    payload = {
        "files": [(f["sha256"], f["partition"]) for f in files],
        "columns": config.columns,
        "format": config.format,
        "csv": config.csv.model_dump(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_source(
    con: duckdb.DuckDBPyConnection, source: str, config: SourceConfig, run_id: str
) -> LoadResult:
    """Load a source's files into `raw.<source>` as a new delivery unless it is already there."""
    ensure_schemas(con)
    files: list[dict] = []
    for spec in config.files:
        path = spec.path
        if not path.exists():
            raise IngestError(
                f"{path}: file not found. Set sources.{source}.files[].path in the source catalogue."
            )
        size = path.stat().st_size
        if size == 0:
            raise IngestError(f"{path}: file is empty (0 bytes); the delivery was not loaded.")
        files.append(
            {
                "path": str(path),
                "partition": spec.partition,
                "sha256": sha256_file(path),
                "bytes": size,
            }
        )
    fingerprint = _fingerprint(config, files)
    table = f"raw.{source}"

    con.execute("begin transaction")
    try:
        previous = con.execute(
            "select load_id, rows, file_columns from raw._loads where source = $source"
            " and fingerprint = $fp order by loaded_at desc limit 1",
            {"source": source, "fp": fingerprint},
        ).fetchone()
        if previous is not None:
            load_id, rows, file_columns = previous[0], previous[1], json.loads(previous[2])
            reused = True
        else:
            load_id, rows, file_columns = _insert_delivery(
                con, source, config, files, fingerprint, run_id, table
            )
            reused = False
        con.execute(
            "update raw._loads set is_current = (load_id = $load_id) where source = $source",
            {"load_id": load_id, "source": source},
        )
        con.execute(
            f"create or replace view {table}__current as select * from {table}"
            f" where _load_id = '{load_id}'"
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return LoadResult(source, load_id, rows, reused, files, file_columns)


def _insert_delivery(con, source, config, files, fingerprint, run_id, table):
    load_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    contract_cols = list(config.contract)
    columns_sql = ", ".join(f"{quote_ident(c)} varchar" for c in contract_cols)
    con.execute(
        f"create table if not exists {table} ({columns_sql}, _load_id varchar,"
        " _source_file varchar, _partition varchar, _row_number bigint, _row_hash ubigint,"
        " _loaded_at timestamp)"
    )
    file_columns: list[str] = []
    total = 0
    for info in files:
        path = Path(info["path"])
        rel = _read_file(con, config, path)
        found = list(rel.columns)
        _check_columns(source, path, found, config)
        file_columns = found
        select = ", ".join(
            f"{quote_ident(config.columns[c])} as {quote_ident(c)}"
            if c in config.columns
            else f"null::varchar as {quote_ident(c)}"
            for c in contract_cols
        )
        # hash of the delivered values, so exact duplicate rows can be found in any source
        row_hash = "hash(" + ", ".join(quote_ident(c) for c in contract_cols) + ")"
        try:
            con.execute(
                f"insert into {table} by name select *, {row_hash} as _row_hash from ("
                f"select {select}, $load_id as _load_id, $file as _source_file,"
                " $partition as _partition, row_number() over () as _row_number,"
                " $loaded_at as _loaded_at from rel)",
                {
                    "load_id": load_id,
                    "file": path.name,
                    "partition": info["partition"],
                    "loaded_at": loaded_at,
                },
            )
        except duckdb.Error as exc:
            raise IngestError(
                f"{path}: could not be parsed: {str(exc).splitlines()[0]}. The file may be "
                "truncated or use another delimiter/encoding than the source catalogue says."
            ) from None
        info["rows"] = con.execute(
            f"select count(*) from {table} where _load_id = $l and _source_file = $f"
            " and _partition is not distinct from $p",
            {"l": load_id, "f": path.name, "p": info["partition"]},
        ).fetchone()[0]
        total += info["rows"]
    con.execute(
        "insert into raw._loads values ($load_id, $source, $fp, $files, $rows, $cols, $at,"
        " $run_id, false)",
        {
            "load_id": load_id,
            "source": source,
            "fp": fingerprint,
            "files": json.dumps(files),
            "rows": total,
            "cols": json.dumps(file_columns),
            "at": loaded_at,
            "run_id": run_id,
        },
    )
    return load_id, total, file_columns


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Order-independent content hash of a table, to prove two builds are identical."""
    row = con.execute(
        f"select count(*), coalesce(sum(hash(t)), 0), coalesce(bit_xor(hash(t)), 0) from {table} t"
    ).fetchone()
    return f"{row[0]}:{row[1]}:{row[2]}"
