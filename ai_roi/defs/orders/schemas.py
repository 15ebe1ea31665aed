"""Pandera schemas and rule books of the order-line stages (raw as delivered, staged as typed)."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from ai_roi.lib.pii import PSEUDONYM_PATTERN
from ai_roi.lib.rules import (
    QUARANTINE_SHARE,
    TABLE_HAS_ROWS,
    Rule,
    RuleBook,
    delivered_columns,
    exact_copy,
    one_value_per,
    trimmed,
    unique_rows,
    value_present,
)
from ai_roi.sources import OrderLinesSource, SourceCatalog

R = Rule


def _as(c: pl.Expr, dtype) -> pl.Expr:
    """A text column parsed as `dtype`, null where it does not parse."""
    return c.str.strip_chars().cast(dtype, strict=False)


def _parses(name: str, description: str, column: str, dtype) -> Rule:
    """An accuracy rule on a text column as delivered: every value parses as `dtype`."""
    return R(
        name, "accuracy", description, on=column, valid=lambda c, _: _as(c, dtype).is_not_null()
    )


def _when(cfg: OrderLinesSource) -> pl.Expr:
    """The invoice date as delivered, parsed with the catalogue's format (null where it fails)."""
    return (
        pl.col("invoice_date")
        .str.strip_chars()
        .str.strptime(pl.Datetime, cfg.timestamp_format, strict=False)
    )


def _last_month_is_partial(ts: pl.Expr) -> pl.Expr:
    """True on rows of the newest month when the data stops before that month's last day."""
    newest = ts.max()
    month_of = ts.dt.truncate("1mo")
    partial = newest.dt.date() < newest.dt.month_end().dt.date()
    return ~((month_of == newest.dt.truncate("1mo")) & partial)


def _now():
    from datetime import datetime

    return datetime.now()


def _is_product(cfg: OrderLinesSource) -> pl.Expr:
    return pl.col("stock_code").str.contains(cfg.product_code_pattern)


_DESC = pl.col("description")  # as delivered: "A" and "A " are two descriptions

# Order lines as delivered: every value still text, rules measured on all delivered rows.
RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R(
        "customer_id_present",
        "completeness",
        "order line has no customer (guest order)",
        on="customer_id",
        valid=value_present,
        nulls_valid=False,
    ),
    R(
        "description_present",
        "completeness",
        "order line has no product description",
        on="description",
        valid=value_present,
        nulls_valid=False,
    ),
    exact_copy(
        "order_line_is_unique", "line is an exact copy of another line (all copies counted)"
    ),
    _parses("quantity_is_integer", "quantity is not a whole number", "quantity", pl.Int64),
    R(
        "quantity_is_positive",
        "accuracy",
        "quantity is zero or negative",
        on="quantity",
        valid=lambda c, cfg: _as(c, pl.Int64) > 0,
    ),
    R(
        "negative_quantity_only_on_cancellations",
        "accuracy",
        "negative quantity on an invoice that is not a cancellation",
        valid_rows=lambda cfg: (
            (_as(pl.col("quantity"), pl.Int64) >= 0)
            | pl.col("invoice_no").str.starts_with(cfg.cancellation_prefix)
        ),
    ),
    R(
        "quantity_within_plausible_range",
        "accuracy",
        "absolute quantity above max_abs_quantity",
        on="quantity",
        valid=lambda c, cfg: _as(c, pl.Int64).abs() <= cfg.max_abs_quantity,
    ),
    _parses("unit_price_is_numeric", "unit price is not a number", "unit_price", pl.Float64),
    R(
        "unit_price_not_zero",
        "accuracy",
        "unit price is zero",
        on="unit_price",
        valid=lambda c, cfg: _as(c, pl.Float64) != 0,
    ),
    R(
        "unit_price_not_negative",
        "accuracy",
        "unit price is negative",
        on="unit_price",
        valid=lambda c, cfg: _as(c, pl.Float64) >= 0,
    ),
    R(
        "unit_price_within_plausible_range",
        "accuracy",
        "unit price above max_unit_price",
        on="unit_price",
        valid=lambda c, cfg: _as(c, pl.Float64) <= cfg.max_unit_price,
    ),
    R(
        "stock_code_is_product",
        "consistency",
        "stock code is not a product code (postage, fees, manual lines)",
        on="stock_code",
        valid=lambda c, cfg: c.str.contains(cfg.product_code_pattern),
    ),
    R(
        "product_code_is_uppercase",
        "consistency",
        "product code has lower-case letters",
        key="stock_code",
        valid_rows=lambda cfg: ~(_is_product(cfg) & pl.col("stock_code").str.contains("[a-z]")),
    ),
    trimmed(
        "description_is_trimmed", "description has leading or trailing whitespace", "description"
    ),
    R(
        "description_has_uppercase",
        "consistency",
        "description has no upper-case letter (a note, not a product name)",
        on="description",
        valid=lambda c, cfg: c.str.contains("[A-Z]"),
    ),
    R(
        "stock_code_has_one_description",
        "consistency",
        "stock code appears with more than one description",
        key="stock_code",
        valid_rows=lambda cfg: _DESC.drop_nulls().n_unique().over("stock_code") <= 1,
        together=("stock_code",),
    ),
    one_value_per(
        "description_has_one_stock_code",
        "description appears under more than one stock code",
        "stock_code",
        per="description",
        known_only=True,
    ),
    one_value_per(
        "customer_has_one_country",
        "customer appears under more than one country",
        "country",
        per="customer_id",
        known_only=True,
    ),
    R(
        "country_is_recognised",
        "consistency",
        "country label is an alias or not a country",
        on="country",
        valid=lambda c, cfg: ~c.is_in(list(cfg.country_aliases) + list(cfg.unknown_country_labels)),
    ),
    R(
        "invoice_date_parses",
        "timeliness",
        "invoice date does not match timestamp_format",
        on="invoice_date",
        valid=lambda c, cfg: (
            c.str.strip_chars()
            .str.strptime(pl.Datetime, cfg.timestamp_format, strict=False)
            .is_not_null()
        ),
    ),
    R(
        "invoice_date_in_valid_range",
        "timeliness",
        "invoice date before earliest_valid_date or in the future",
        clock=True,
        valid_rows=lambda cfg: (
            (_when(cfg) >= pl.lit(cfg.earliest_valid_date).cast(pl.Datetime))
            & (_when(cfg) <= pl.lit(_now()))
        ),
    ),
    R(
        "invoice_month_is_complete",
        "timeliness",
        "line belongs to a month the delivery covers only in part",
        # the newest invoice date of the whole table decides
        valid_rows=lambda cfg: _last_month_is_partial(_when(cfg)),
        together=(),
    ),
)

# What makes a staged order line the same line: the uniqueness check compares these. Every other
# staged check looks at one row at a time, so a large staged batch is validated in parts split by
# them (lib.rules.shared_reach), and the copies of a line always meet in one part.
STAGED_LINE_IDENTITY = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "unit_price",
    "invoiced_at",
    "customer_key",
    "country",
)

# Typed order lines that passed every row-level rule.
STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    unique_rows("order_line_is_unique", "two staged lines are identical", *STAGED_LINE_IDENTITY),
    R(
        "quantity_not_zero",
        "accuracy",
        "quantity is zero",
        blocking=True,
        on="quantity",
        valid=lambda c, _: c != 0,
    ),
    R(
        "unit_price_not_negative",
        "accuracy",
        "unit price is negative",
        blocking=True,
        on="unit_price",
        valid=lambda c, _: c >= 0,
    ),
    R(
        "sign_matches_invoice_type",
        "consistency",
        "sales must be positive and cancellations negative",
        blocking=True,
        valid_rows=lambda _: (pl.col("quantity") < 0) == pl.col("is_cancellation"),
    ),
    R(
        "line_amount_is_quantity_times_price",
        "consistency",
        "line_amount differs from quantity x unit_price",
        blocking=True,
        valid_rows=lambda _: (
            pl.col("line_amount")
            == (pl.col("quantity").cast(pl.Decimal(38, 4)) * pl.col("unit_price")).cast(
                pl.Decimal(18, 4)
            )
        ),
    ),
    R(
        "customer_key_is_pseudonym",
        "accuracy",
        "customer key is not a pseudonym (raw identifier leaked)",
        blocking=True,
        on="customer_key",
        valid=lambda c, _: c.is_null() | c.str.contains(PSEUDONYM_PATTERN),
    ),
    R(
        "invoiced_at_not_in_future",
        "timeliness",
        "invoice timestamp is after the load",
        blocking=True,
        on="invoiced_at",
        valid=lambda c, _: c <= pl.lit(_now()),
    ),
    QUARANTINE_SHARE,
)

# The columns of the raw table the rules read, as delivered.
RAW_COLUMNS = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Order lines as delivered (every value still text), with the checks of RAW_RULES."""
    cfg: OrderLinesSource = catalog.order_lines
    return RAW_RULES.schema("raw_order_lines", delivered_columns(RAW_COLUMNS), cfg)


class StagedOrderLines(pa.DataFrameModel):
    """Typed order lines that passed every row-level rule; one row per order line."""

    invoice_no: str = pa.Field(nullable=False)
    stock_code: str = pa.Field(nullable=False)
    description: str = pa.Field(nullable=True)
    quantity: pl.Int64 = pa.Field(nullable=False)
    unit_price: Annotated[pl.Decimal, 18, 4] = pa.Field(nullable=False)
    invoiced_at: pl.Datetime = pa.Field(nullable=False)
    line_amount: Annotated[pl.Decimal, 18, 4] = pa.Field(nullable=False)
    customer_key: str = pa.Field(nullable=True)
    country: str = pa.Field(nullable=True)
    is_cancellation: bool = pa.Field(nullable=False)
    is_guest: bool = pa.Field(nullable=False)
    is_product: bool = pa.Field(nullable=False)

    class Config:
        strict = False


def staged_schema(_catalog: SourceCatalog) -> pa.DataFrameSchema:
    """The staged order lines' columns (StagedOrderLines) with the checks of STAGED_RULES."""
    columns = dict(StagedOrderLines.to_schema().columns)
    return STAGED_RULES.schema("staged_order_lines", columns, None)
