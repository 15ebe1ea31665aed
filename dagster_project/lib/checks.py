"""Build the per-dimension Pandera checks of one stage of one source."""

from collections.abc import Callable

import dagster as dg
import pandera.polars as pa
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import SourceCatalogResource
from dagster_project.lib.quality import (
    QUARANTINE_SHARE,
    Outcome,
    RuleBook,
    check_results,
    check_specs,
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
    def _checks(duckdb: DuckDBResource, catalog: SourceCatalogResource):
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
        yield from check_results(report, asset_key, prefix, rulebook)

    return _checks
