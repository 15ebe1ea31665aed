"""Keep the newest few of what every run leaves behind, delete the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from ai_roi.lib.warehouse import quote_ident


def keep_newest(folder: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the `keep` newest subfolders of `folder` named `prefix*`; the deleted ones.

    Newest by modification time, then name, so the folder just written is always kept.
    """
    if not folder.is_dir():
        return []
    found = sorted(
        (p for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix)),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    removed = found[keep:]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def keep_newest_runs(
    con: duckdb.DuckDBPyConnection, table: str, time_column: str, keep: int
) -> int:
    """Delete the rows of all but the `keep` newest runs (by `run_id`) of a history table, newest
    by their latest `time_column`; how many rows were deleted."""
    name = ".".join(quote_ident(part) for part in table.split("."))
    column = quote_ident(time_column)
    stale = (
        f"from {name} where run_id not in (select run_id from {name} group by run_id"
        f" order by max({column}) desc, run_id desc limit $keep)"
    )
    # counted first: a delete answers with its count on DuckDB, with none on PostgreSQL
    deleted = con.execute(f"select count(*) {stale}", {"keep": keep}).fetchone()[0]
    if deleted:
        con.execute(f"delete {stale}", {"keep": keep})
    return deleted
