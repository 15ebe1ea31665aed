"""The consumers' read-only path: the marts exported to their own DuckDB file."""

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.marts.assets import mart_keys
from dagster_project.defs.resources import MartsExportResource

EXPORT_KEY = dg.AssetKey(["exports", "marts"])
GOVERNANCE_TAGS = {"classification": "internal", "domain": "governance"}


@dg.asset(
    key=EXPORT_KEY,
    deps=[*mart_keys(roi=False), *mart_keys(roi=True)],
    group_name="governance",
    kinds={"duckdb"},
    tags=GOVERNANCE_TAGS,
)
def marts_export(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, marts_export: MartsExportResource
) -> dg.MaterializeResult:
    """Every mart copied to a separate DuckDB file that consumers open read-only, with no raw, staged or quarantine layer in it; one table per mart, replaced whole each run."""
    target = Path(marts_export.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_suffix(".building.duckdb")
    building.unlink(missing_ok=True)
    tables = {}
    with duckdb.get_connection() as con:
        con.execute(f"attach '{building}' as export")
        try:
            con.execute("create schema export.marts")
            names = [
                n
                for (n,) in con.execute(
                    "select table_name from information_schema.tables"
                    " where table_catalog = current_database() and table_schema = 'marts'"
                    " order by 1"
                ).fetchall()
            ]
            for name in names:
                con.execute(f'create table export.marts."{name}" as select * from marts."{name}"')
                tables[name] = con.execute(
                    f'select count(*) from export.marts."{name}"'
                ).fetchone()[0]
        finally:
            con.execute("detach export")
    # readers see the old file or the new one, never half of one
    os.replace(building, target)
    return dg.MaterializeResult(
        metadata={
            "path": str(target),
            "tables": dg.MetadataValue.json(tables),
            "dagster/row_count": sum(tables.values()),
        }
    )
