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
    build_monitors,
    build_schema_checks,
    raw_monitors,
    staged_monitors,
)

raw_order_lines_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_order_lines",
    table="raw.order_lines__current",
    raw_of="order_lines",
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

raw_order_lines_monitors = build_monitors(
    asset_key=RAW_KEY, name="raw_order_lines_monitors", monitors=raw_monitors("order_lines")
)

staged_order_lines_monitors = build_monitors(
    asset_key=STAGED_KEY,
    name="staged_order_lines_monitors",
    monitors=staged_monitors("order_lines", "staged.order_lines", "invoiced_at"),
)
