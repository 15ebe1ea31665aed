"""ERP order lines: the delivered file (raw) and typed, de-duplicated lines (staged)."""

from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.orders.schemas import (
    QUARANTINE_RULES,
    STAGED_LINE_IDENTITY,
    STAGED_RULES,
    StagedOrderLines,
)
from dagster_project.lib.assets import (
    StagingResources,
    ingest_raw,
    run_staging,
    staged_metadata,
    staged_version,
)
from dagster_project.lib.checks import Audit, staged_monitors
from dagster_project.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from dagster_project.sources import OrderLinesSource

RAW_KEY = dg.AssetKey(["raw", "order_lines"])
STAGED_KEY = dg.AssetKey(["staged", "order_lines"])
# the checks a staged batch passes before it is published (write, audit, publish)
AUDIT = Audit(
    asset_key=STAGED_KEY,
    prefix="staged_order_lines",
    rulebook=STAGED_RULES,
    schema=lambda _catalog: StagedOrderLines.to_schema(),
    source="order_lines",
    monitors=lambda table: staged_monitors("order_lines", table, "invoiced_at"),
    bucket_by=STAGED_LINE_IDENTITY,
)
FLAGS = ("is_cancellation", "is_guest", "is_product", "is_free_of_charge", "is_extreme_quantity")


def staging_params(cfg: OrderLinesSource, now: datetime) -> dict:
    return {
        "timestamp_format": cfg.timestamp_format,
        "cancellation_prefix": cfg.cancellation_prefix,
        "product_code_pattern": cfg.product_code_pattern,
        "max_abs_quantity": cfg.max_abs_quantity,
        "max_plausible_quantity": cfg.max_plausible_quantity,
        "max_line_amount": cfg.max_line_amount,
        "earliest_valid_date": cfg.earliest_valid_date,
        "latest_valid_at": now,
        "unknown_country_labels": cfg.unknown_country_labels,
        "country_alias_from": list(cfg.country_aliases),
        "country_alias_to": list(cfg.country_aliases.values()),
    }


@dg.asset(
    key=RAW_KEY,
    group_name="raw",
    kinds={"duckdb"},
    tags={"classification": "pii", "domain": "erp"},
)
def raw_order_lines(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, catalog: SourceCatalogResource
) -> dg.MaterializeResult:
    """ERP order lines exactly as delivered, all text, plus load metadata; one row per file line per delivery."""
    return ingest_raw(context, duckdb, "order_lines", catalog.load().order_lines)


@dg.asset(
    key=STAGED_KEY,
    deps=[RAW_KEY],
    group_name="staged",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "erp"},
    check_specs=AUDIT.specs(),
)
def staged_order_lines(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    catalog: SourceCatalogResource,
    privacy: PrivacyResource,
    params: ParamsResource,
    outputs: OutputsResource,
):
    """Typed order lines of the accepted deliveries, customers pseudonymised; one row per clean order line."""
    cfg = catalog.load().order_lines
    result, checks = yield from run_staging(
        context,
        duckdb,
        source="order_lines",
        config=cfg,
        rulebook=QUARANTINE_RULES,
        params=staging_params(cfg, datetime.now()),
        audit=AUDIT,
        resources=StagingResources(catalog, params, outputs, privacy),
        flags=FLAGS,
    )
    yield dg.MaterializeResult(
        metadata=staged_metadata(result), data_version=staged_version(duckdb, "order_lines")
    )
    yield from checks
