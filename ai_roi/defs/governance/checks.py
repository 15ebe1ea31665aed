"""PII scan: a blocking check on every mart, so personal data never reaches a consumer in clear.

It fails when a text column of the mart matches an e-mail, phone, card or account pattern
(lib/pii.py), or when most of a column's values are raw identifiers from the raw layer (customer
ids, callers, agents). Core marts and ROI marts get separate checks: they are built by different
dbt invocations, and a blocking check must sit between a mart and what reads it.
"""

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.defs.governance.assets import EXPORT_KEY, mart_tables
from ai_roi.defs.marts.assets import mart_keys
from ai_roi.defs.marts.project import dbt_project
from ai_roi.lib.dbt_sql import template
from ai_roi.lib.history import recorded
from ai_roi.lib.pii import PERSONAL_COLUMNS, scan_identifiers, scan_patterns
from ai_roi.lib.warehouse import engine_of, quote_ident, relation_names
from ai_roi.resources import MartsExportResource

# the dbt macros it renders (lib.dbt_sql), its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/cross_engine.sql",)

CHECK_NAME = "pii_scan"
# A column is taken for raw identifiers when this share of its distinct values are ones.
IDENTIFIER_SHARE = 0.5
# an identifier holds a digit (the missing-value tokens do not)
DIGIT = r"'\d'"


def load_identifiers(con) -> str:
    """Collect the raw identifiers of the current deliveries (those with a digit: not the
    missing-value tokens) once into a temporary table; returns the query the scans read."""
    present = set(relation_names(con, "raw", "VIEW"))
    matches = template(engine_of(con), "regex_search")  # each engine's spelling, from dbt
    parts = [
        f'select "{column}" as value from raw.{source}__current'
        f" where {matches.format(value=quote_ident(column), pattern=DIGIT)}"
        for source, columns in PERSONAL_COLUMNS.items()
        if f"{source}__current" in present
        for column in columns
    ]
    source = " union ".join(parts) or "select cast(null as varchar) as value where false"
    con.execute("drop table if exists _raw_identifiers")
    con.execute(f"create temp table _raw_identifiers as {source}")
    return "select value from _raw_identifiers"


def business_keys() -> dict[str, set[str]]:
    """Per mart, the columns dbt declares the business's own numbering (column meta
    `business_key`): invoice and document numbers, product codes. The PII scan does not take
    their digit runs for card, phone or account numbers (lib/pii.py NUMBER_KINDS)."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    declared: dict[str, set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        for name, column in node["columns"].items():
            meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
            if meta.get("business_key"):
                declared.setdefault(node["name"], set()).add(name)
    return declared


def scan_result(
    con,
    key: dg.AssetKey,
    catalog: str,
    schema: str,
    tables: list[str],
    ids: str,
    keys_by_table: dict[str, set[str]],
) -> dg.AssetCheckResult:
    """One check result over `tables`: what personal data each holds, if any.

    `ids` is the query of raw identifiers (see `load_identifiers`); `keys_by_table` the columns
    of the business's own numbering per table (`business_keys`).
    """
    patterns, identifiers, rows = {}, {}, 0
    for table in tables:
        prefix = f"{table}." if len(tables) > 1 else ""
        found = scan_patterns(con, catalog, schema, table, keys_by_table.get(table, ()))
        for label, n in found.items():
            patterns[prefix + label] = n
        for column, share in scan_identifiers(
            con, catalog, schema, table, ids, IDENTIFIER_SHARE
        ).items():
            identifiers[prefix + column] = share
        rows += con.execute(f'select count(*) from "{catalog}"."{schema}"."{table}"').fetchone()[0]
    findings = [f"{label} {n:,} rows" for label, n in patterns.items()] + [
        f"{column}: {share:.0%} of values are raw identifiers"
        for column, share in identifiers.items()
    ]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "dimension": "consistency",  # consistent with the privacy policy: no PII past staging
            "relations": dg.MetadataValue.json([f"{schema}.{t}" for t in tables]),
            "rows_checked": rows,
            "pattern_matches": dg.MetadataValue.json(patterns),
            "identifier_columns": dg.MetadataValue.json(identifiers),
            "summary": "; ".join(findings) or "no personal data found",
        },
    )


def pii_scan_checks(name: str, keys: list[dg.AssetKey]) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=name,
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                blocking=True,
                description="No e-mail, phone, card or account number and no raw identifier "
                "in any text column (blocking).",
                metadata={"dimension": "consistency"},
            )
            for key in keys
        ],
        can_subset=True,
    )
    def _scan(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
        with duckdb.get_connection() as con:
            catalog = con.execute("select current_database()").fetchone()[0]
            ids = load_identifiers(con)
            keys = business_keys()
            results = [
                scan_result(
                    con, check.asset_key, catalog, "marts", [check.asset_key.path[-1]], ids, keys
                )
                for check in sorted(context.selected_asset_check_keys, key=str)
            ]
            yield from recorded(context, con, results, kind="monitor")

    return _scan


core_marts_pii_scan = pii_scan_checks("core_marts_pii_scan", mart_keys(roi=False))
roi_marts_pii_scan = pii_scan_checks("roi_marts_pii_scan", mart_keys(roi=True))


@dg.asset_check(
    asset=EXPORT_KEY,
    name=CHECK_NAME,
    blocking=True,
    description="The consumers' export holds no e-mail, phone, card or account number and no raw "
    "identifier in any table (blocking).",
    metadata={"dimension": "consistency"},
)
def export_pii_scan(
    context: dg.AssetCheckExecutionContext,
    duckdb: DuckDBResource,
    marts_export: MartsExportResource,
) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con, _consumers_marts(con, marts_export) as catalog:
        tables = mart_tables(con, catalog)
        result = scan_result(
            con, EXPORT_KEY, catalog, "marts", tables, load_identifiers(con), business_keys()
        )
        return recorded(context, con, [result], kind="monitor")[0]


@contextlib.contextmanager
def _consumers_marts(con, marts_export: MartsExportResource) -> Iterator[str]:
    """The catalogue holding the marts as their consumers read them: the export file attached to
    the DuckDB warehouse while the block runs, or a PostgreSQL warehouse's own database (its
    marts schema is the consumers' path there)."""
    if engine_of(con) == "postgres":
        yield con.execute("select current_database()").fetchone()[0]
        return
    con.execute(f"attach '{marts_export.location}' as export (read_only)")
    try:
        yield "export"
    finally:
        con.execute("detach export")
