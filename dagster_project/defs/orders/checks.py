"""Quality checks of the order-line stages, one per dimension per stage."""

from __future__ import annotations

from dagster_project.defs.orders.assets import RAW_KEY, STAGED_KEY
from dagster_project.defs.orders.schemas import (
    RAW_RULES,
    STAGED_RULES,
    StagedOrderLines,
    raw_schema,
)
from dagster_project.lib.checks import (
    build_raw_monitors,
    build_schema_checks,
    build_staged_monitors,
)

raw_order_lines_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_order_lines",
    table="raw.order_lines__current",
    rulebook=RAW_RULES,
    schema=raw_schema,
)

staged_order_lines_checks = build_schema_checks(
    asset_key=STAGED_KEY,
    prefix="staged_order_lines",
    table="staged.order_lines",
    rulebook=STAGED_RULES,
    schema=lambda _catalog: StagedOrderLines.to_schema(),
    source="order_lines",
)

raw_order_lines_monitors = build_raw_monitors(asset_key=RAW_KEY, source="order_lines")

staged_order_lines_monitors = build_staged_monitors(
    asset_key=STAGED_KEY,
    source="order_lines",
    table="staged.order_lines",
    time_column="invoiced_at",
)
