"""ERP order lines: the delivered file (raw) and typed, de-duplicated lines (staged).

The assets and checks come from the one factory every source uses (lib/source_assets.py); the
staged table's checks are its own and run on each staged batch before it is published.
"""

from datetime import datetime

from ai_roi.defs.orders import schemas
from ai_roi.lib.source_assets import SourceDefinition, source_assets
from ai_roi.sources import OrderLinesSource


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


ORDER_LINES = SourceDefinition(
    name="order_lines",
    domain="erp",
    raw_description="ERP order lines exactly as delivered, all text, plus load metadata; one row per file line per delivery.",
    staged_description="Typed order lines of the accepted deliveries, customers pseudonymised; one row per clean order line.",
    rules=schemas,
    staging_params=staging_params,
    flags=("is_cancellation", "is_guest", "is_product", "is_free_of_charge", "is_extreme_quantity"),
    time_column="invoiced_at",
    bucket_by=schemas.STAGED_LINE_IDENTITY,
)
RAW_KEY, STAGED_KEY = ORDER_LINES.raw_key, ORDER_LINES.staged_key

raw_order_lines, staged_order_lines, raw_order_lines_checks, raw_order_lines_monitors = (
    source_assets(ORDER_LINES)
)
