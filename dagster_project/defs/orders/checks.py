"""Quality checks of the raw order lines, one per dimension, and its monitors.

The staged table's checks are its own (defs/orders/assets.py AUDIT): they run on each staged
batch before it is published.
"""

from __future__ import annotations

from dagster_project.defs.orders.assets import RAW_KEY
from dagster_project.defs.orders.schemas import (
    RAW_RULES,
    raw_schema,
)
from dagster_project.lib.checks import (
    build_monitors,
    build_schema_checks,
    raw_monitors,
)

raw_order_lines_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_order_lines",
    table="raw.order_lines__current",
    raw_of="order_lines",
    rulebook=RAW_RULES,
    schema=raw_schema,
)

raw_order_lines_monitors = build_monitors(
    asset_key=RAW_KEY, name="raw_order_lines_monitors", monitors=raw_monitors("order_lines")
)
