"""Governance as assets: the data-asset inventory, and the consumers' read-only export of the marts."""

import os
import re

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ai_roi.defs.marts.assets import mart_keys
from ai_roi.lib import code_location, postgres
from ai_roi.lib.postgres import server_name
from ai_roi.lib.rules import md_table
from ai_roi.lib.warehouse import engine_of, relation_names, replace_table
from ai_roi.resources import MartsExportResource, MartsServerResource

EXPORT_KEY = dg.AssetKey(["exports", "marts"])
GOVERNANCE_TAGS = {"classification": "internal", "domain": "governance"}


# Tables the pipeline writes outside any asset's own step: declared so lineage and the
# inventory show them.
audit_log = dg.AssetSpec(
    key=dg.AssetKey(["governance", "audit_log"]),
    group_name="governance",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "governance"},
    description="The audit trail (governance.audit_log): who launched each run, on which code "
    "and data versions, with its checks, quarantine, models trained and promotions; written by "
    "`ai-roi run` when a run ends. Grain: one row per run.",
)

raw_loads = dg.AssetSpec(
    key=dg.AssetKey(["raw", "loads"]),
    deps=[dg.AssetKey(["raw", name]) for name in ("order_lines", "ticket_events", "messages")],
    group_name="raw",
    kinds={"duckdb"},
    tags={"classification": "internal", "domain": "governance"},
    description="Bookkeeping of the raw layer (raw._loads): files, sha256 fingerprint, rows and "
    "which delivery is current; written by the raw assets. Grain: one row per delivery.",
)


@dg.asset(
    key=EXPORT_KEY,
    deps=[*mart_keys(roi=False), *mart_keys(roi=True)],
    group_name="governance",
    kinds={"duckdb"},
    tags=GOVERNANCE_TAGS,
)
def marts_export(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    marts_export: MartsExportResource,
    marts_server: MartsServerResource,
) -> dg.MaterializeResult:
    """Every mart copied to a separate DuckDB file that consumers open read-only, with no raw, staged or quarantine layer in it, and, where AI_ROI_MARTS_SERVER is set, published to the marts schema of a PostgreSQL server behind a read-only role; one table per mart, replaced whole each run."""
    with duckdb.get_connection() as con:
        if engine_of(con) == "postgres":  # the marts schema is the consumers' read-only path
            tables = {
                name: con.execute(f'select count(*) from marts."{name}"').fetchone()[0]
                for name in mart_tables(con)
            }
            return dg.MaterializeResult(
                metadata={
                    "on_server": server_name(),
                    "tables": dg.MetadataValue.json(tables),
                    "dagster/row_count": sum(tables.values()),
                }
            )
    target = marts_export.location
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_suffix(".building.duckdb")
    building.unlink(missing_ok=True)
    tables = {}
    with duckdb.get_connection() as con:
        con.execute(f"attach '{building}' as export")
        try:
            con.execute("create schema export.marts")
            names = mart_tables(con)
            for name in names:
                con.execute(f'create table export.marts."{name}" as select * from marts."{name}"')
                tables[name] = con.execute(
                    f'select count(*) from export.marts."{name}"'
                ).fetchone()[0]
        finally:
            con.execute("detach export")
        published = {}
        if marts_server.enabled:
            try:
                with marts_server.connect() as pg:
                    published = postgres.publish_tables(
                        con, pg, "marts", names, marts_server.reader
                    )
            except BaseException as error:
                building.unlink(missing_ok=True)  # the export file stays as the server does
                if isinstance(error, postgres.PublishError):
                    raise dg.Failure(description=str(error), allow_retries=False) from None
                raise
    # readers see the old file or the new one, never half of one
    os.replace(building, target)
    metadata = {
        "path": str(target),
        "tables": dg.MetadataValue.json(tables),
        "dagster/row_count": sum(tables.values()),
    }
    if marts_server.enabled:
        metadata["published_to_server"] = dg.MetadataValue.json(published)
    return dg.MaterializeResult(metadata=metadata)


def mart_tables(con, catalog: str | None = None) -> list[str]:
    """The tables and views of the marts schema of `catalog` (the warehouse's own database
    unless named), on either engine."""
    return relation_names(con, "marts", catalog=catalog)


INVENTORY_KEY = dg.AssetKey(["governance", "asset_inventory"])
_GRAIN = re.compile(r"\b(one(?: \w+){1,3} per [^;.]+)", re.IGNORECASE)


def inventory_rows(graph) -> list[dict]:
    """Every asset of the code location: owner, group, classification, grain and checks."""
    checks: dict[dg.AssetKey, list[str]] = {}
    for check_key in graph.asset_check_keys:
        checks.setdefault(check_key.asset_key, []).append(check_key.name)
    rows = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.path):
        node = graph.get(key)
        description = node.description or ""
        grain = _GRAIN.search(description)
        rows.append(
            {
                "asset_key": key.to_user_string(),
                "group_name": node.group_name,
                "owners": sorted(node.owners),
                "classification": node.tags.get("classification"),
                "domain": node.tags.get("domain"),
                "kinds": sorted(node.kinds),
                "grain": grain.group(1).strip() if grain else None,
                "description": description.split(". ")[0].strip(),
                "checks": len(checks.get(key, [])),
                "built_by_pipeline": node.is_executable,
            }
        )
    return rows


@dg.asset(key=INVENTORY_KEY, group_name="governance", kinds={"duckdb"}, tags=GOVERNANCE_TAGS)
def asset_inventory(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """The data-asset inventory generated from the definitions: every asset with its owner, group, classification, grain and number of checks; one row per asset."""
    # the whole code location: a run of this asset alone has only itself in its job's graph
    rows = inventory_rows(code_location.asset_graph())
    frame = pd.DataFrame(rows)
    frame.insert(0, "run_id", context.run.run_id)
    with duckdb.get_connection() as con:
        replace_table(con, "governance", "asset_inventory", frame)
    by_class = frame["classification"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "by_classification": dg.MetadataValue.json({k: int(v) for k, v in by_class.items()}),
            "inventory": dg.MetadataValue.md(
                md_table(
                    [
                        {k: r[k] for k in ("asset_key", "group_name", "owners", "classification")}
                        for r in rows
                    ],
                    limit=200,
                )
            ),
        }
    )
