"""Build the checks of a source's stages: per-dimension Pandera checks and the monitors."""

from collections.abc import Callable

import dagster as dg
import pandera.polars as pa
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import ParamsResource, SourceCatalogResource
from dagster_project.lib import monitors
from dagster_project.lib.history import recorded
from dagster_project.lib.monitors import Finding
from dagster_project.lib.quality import (
    QUARANTINE_SHARE,
    Outcome,
    RuleBook,
    check_results,
    check_specs,
    md_table,
    validate,
)
from dagster_project.sources import SourceCatalog


def build_schema_checks(
    *,
    asset_key: dg.AssetKey,
    prefix: str,
    table: str,
    rulebook: RuleBook,
    schema: Callable[[SourceCatalog], pa.DataFrameSchema],
    source: str | None = None,
) -> dg.AssetChecksDefinition:
    """Validate `table` with the stage's Pandera schema and report one result per dimension.

    With `source` set, the stage's quarantine share is checked against the source's limit too.
    """

    @dg.multi_asset_check(
        specs=check_specs(asset_key, prefix, rulebook),
        name=f"{prefix}_checks",
        description=f"Pandera schema of {asset_key.to_user_string()}, one check per dimension.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
    ):
        sources = catalog.load()
        extra = []
        with duckdb.get_connection() as con:
            # _row_hash (unsigned 64-bit) is bookkeeping, not data, and polars cannot hold it
            df = con.sql(f"select columns(lambda c: c != '_row_hash') from {table}").pl()
            if source is not None:
                limit = getattr(sources, source).max_quarantine_share
                held = con.execute(
                    "select count(*) from quarantine.rows where source = $s", {"s": source}
                ).fetchone()[0]
                share = held / max(held + df.height, 1)
                extra.append(
                    Outcome(
                        QUARANTINE_SHARE,
                        None,
                        int(share > limit) * held,
                        sample=[{"quarantined": held, "share": round(share, 4), "limit": limit}],
                    )
                )
        report = validate(schema(sources), df, rulebook, extra=extra)
        results = list(check_results(report, asset_key, prefix, rulebook))
        yield from recorded(context, duckdb, results, kind="pandera")

    return _checks


def finding_result(
    finding: Finding,
    asset_key: dg.AssetKey,
    name: str,
    dimension: str,
    columns: list[str],
    *,
    blocking: bool = False,
    rows_checked: int | None = None,
) -> dg.AssetCheckResult:
    """A monitor's finding as a check result: ERROR when it blocks, WARN otherwise."""
    metadata = {
        "dimension": dimension,
        "columns": columns,
        "summary": finding.summary,
        **{k: v for k, v in finding.observed.items() if v is not None},
    }
    if rows_checked is not None:
        metadata["rows_checked"] = rows_checked
    if finding.table:
        metadata["details"] = dg.MetadataValue.md(md_table(finding.table, limit=60))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=finding.summary,
        metadata=metadata,
    )


def build_raw_monitors(*, asset_key: dg.AssetKey, source: str) -> dg.AssetChecksDefinition:
    """Schema change (blocking) and delivery volume (warning) of a source's raw layer."""
    schema_name, volume_name = f"raw_{source}_schema_change", f"raw_{source}_volume_change"

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                schema_name,
                asset=asset_key,
                blocking=True,
                description="Columns and their types against the last accepted schema; "
                "blocks until the change is mapped or accepted in the source catalogue.",
                metadata={"dimension": "consistency"},
            ),
            dg.AssetCheckSpec(
                volume_name,
                asset=asset_key,
                description="Rows per delivery (and partition) against earlier deliveries: "
                "median/MAD band on log counts.",
                metadata={"dimension": "completeness"},
            ),
        ],
        name=f"raw_{source}_monitors",
    )
    def _monitors(
        context: dg.AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
        params: ParamsResource,
    ):
        config = getattr(catalog.load(), source)
        volume_params = params.load().quality.volume
        with duckdb.get_connection() as con:
            schema = monitors.schema_change(con, source, config)
            volume = monitors.load_volume(con, source, volume_params)
        columns = list(config.columns)
        results = [
            finding_result(schema, asset_key, schema_name, "consistency", columns, blocking=True),
            finding_result(volume, asset_key, volume_name, "completeness", []),
        ]
        yield from recorded(context, duckdb, results, kind="monitor")

    return _monitors


def build_staged_monitors(
    *, asset_key: dg.AssetKey, source: str, table: str, time_column: str
) -> dg.AssetChecksDefinition:
    """Freshness and monthly volume of a time-based staged table (warnings)."""
    fresh_name, monthly_name = f"staged_{source}_freshness", f"staged_{source}_monthly_volume"

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                fresh_name,
                asset=asset_key,
                description=f"Lag of the newest {time_column} behind the as-of date against the "
                "expected cadence (sources.<source>.freshness).",
                metadata={"dimension": "timeliness"},
            ),
            dg.AssetCheckSpec(
                monthly_name,
                asset=asset_key,
                description=f"Rows per complete month of {time_column} against the other months "
                "(a year earlier where two years of data allow).",
                metadata={"dimension": "completeness"},
            ),
        ],
        name=f"staged_{source}_monitors",
    )
    def _monitors(
        context: dg.AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
        params: ParamsResource,
    ):
        config = getattr(catalog.load(), source)
        volume_params = params.load().quality.volume
        with duckdb.get_connection() as con:
            if config.freshness is None:
                fresh = monitors.Finding(
                    True, f"no cadence set: add sources.{source}.freshness to judge freshness"
                )
            else:
                fresh = monitors.freshness(con, table, time_column, config.freshness)
            monthly = monitors.monthly_volume(con, table, time_column, volume_params)
        results = [
            finding_result(fresh, asset_key, fresh_name, "timeliness", [time_column]),
            finding_result(monthly, asset_key, monthly_name, "completeness", [time_column]),
        ]
        yield from recorded(context, duckdb, results, kind="monitor")

    return _monitors
