"""Pandera schemas and rule books of the order-line stages (raw as delivered, staged as typed)."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from dagster_project.lib.pii import PSEUDONYM_PATTERN
from dagster_project.lib.quality import (
    QUARANTINE_SHARE,
    TABLE_HAS_ROWS,
    VALUE_TOO_LONG,
    Rule,
    RuleBook,
    column_check,
    frame_check,
    is_present,
)
from dagster_project.sources import OrderLinesSource, SourceCatalog

R = Rule

RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("customer_id_present", "completeness", "order line has no customer (guest order)"),
    R("description_present", "completeness", "order line has no product description"),
    R(
        "order_line_is_unique",
        "uniqueness",
        "line is an exact copy of another line (all copies counted)",
    ),
    R("quantity_is_integer", "accuracy", "quantity is not a whole number"),
    R("quantity_is_positive", "accuracy", "quantity is zero or negative"),
    R(
        "negative_quantity_only_on_cancellations",
        "accuracy",
        "negative quantity on an invoice that is not a cancellation",
    ),
    R("quantity_within_plausible_range", "accuracy", "absolute quantity above max_abs_quantity"),
    R("unit_price_is_numeric", "accuracy", "unit price is not a number"),
    R("unit_price_not_zero", "accuracy", "unit price is zero"),
    R("unit_price_not_negative", "accuracy", "unit price is negative"),
    R("unit_price_within_plausible_range", "accuracy", "unit price above max_unit_price"),
    R(
        "stock_code_is_product",
        "consistency",
        "stock code is not a product code (postage, fees, manual lines)",
    ),
    R(
        "product_code_is_uppercase",
        "consistency",
        "product code has lower-case letters",
        key="stock_code",
    ),
    R("description_is_trimmed", "consistency", "description has leading or trailing whitespace"),
    R(
        "description_has_uppercase",
        "consistency",
        "description has no upper-case letter (a note, not a product name)",
    ),
    R(
        "stock_code_has_one_description",
        "consistency",
        "stock code appears with more than one description",
        key="stock_code",
    ),
    R(
        "description_has_one_stock_code",
        "consistency",
        "description appears under more than one stock code",
        key="description",
    ),
    R(
        "customer_has_one_country",
        "consistency",
        "customer appears under more than one country",
        key="customer_id",
    ),
    R("country_is_recognised", "consistency", "country label is an alias or not a country"),
    R("invoice_date_parses", "timeliness", "invoice date does not match timestamp_format"),
    R(
        "invoice_date_in_valid_range",
        "timeliness",
        "invoice date before earliest_valid_date or in the future",
        clock=True,
    ),
    R(
        "invoice_month_is_complete",
        "timeliness",
        "line belongs to a month the delivery covers only in part",
    ),
)

QUARANTINE_RULES = RuleBook(
    R("invoice_no_missing", "completeness", "invoice number is empty", column="invoice_no"),
    R("stock_code_missing", "completeness", "stock code is empty", column="stock_code"),
    R("quantity_not_integer", "accuracy", "quantity is not a whole number", column="quantity"),
    R("unit_price_not_numeric", "accuracy", "unit price is not a number", column="unit_price"),
    R(
        "invoice_date_unparseable",
        "timeliness",
        "invoice date does not match timestamp_format",
        column="invoice_date",
    ),
    R(
        "invoice_date_out_of_range",
        "timeliness",
        "invoice date before earliest_valid_date or after the load",
        column="invoice_date",
    ),
    R("duplicate_order_line", "uniqueness", "exact copy of an earlier line of the same delivery"),
    R(
        "order_line_in_earlier_delivery",
        "uniqueness",
        "exact copy of a line of an earlier delivery (an overlapping or re-cut export): "
        "counted once, in the delivery that brought it first",
        averts_bad_decision=False,
    ),
    R(
        "order_line_in_other_file",
        "uniqueness",
        "exact copy of a line delivered in another file (overlapping exports): counted once",
        averts_bad_decision=False,
    ),
    R("quantity_zero", "accuracy", "quantity is zero", column="quantity"),
    R(
        "negative_quantity_not_cancellation",
        "accuracy",
        "negative quantity on a non-cancellation invoice: a stock adjustment, not a sale",
        column="quantity",
    ),
    R(
        "cancellation_with_positive_quantity",
        "consistency",
        "cancellation invoice with a positive quantity",
        column="invoice_no",
    ),
    R(
        "unit_price_negative",
        "accuracy",
        "negative unit price: an accounting adjustment, not a sale",
        column="unit_price",
    ),
    R(
        "quantity_implausible",
        "accuracy",
        "quantity beyond max_plausible_quantity: a code or barcode typed into the quantity",
        column="quantity",
    ),
    R(
        "line_amount_implausible",
        "accuracy",
        "quantity times unit price beyond max_line_amount",
        column="unit_price",
    ),
    VALUE_TOO_LONG,
)

STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("order_line_is_unique", "uniqueness", "two staged lines are identical", blocking=True),
    R("quantity_not_zero", "accuracy", "quantity is zero", blocking=True),
    R("unit_price_not_negative", "accuracy", "unit price is negative", blocking=True),
    R(
        "sign_matches_invoice_type",
        "consistency",
        "sales must be positive and cancellations negative",
        blocking=True,
    ),
    R(
        "line_amount_is_quantity_times_price",
        "consistency",
        "line_amount differs from quantity x unit_price",
        blocking=True,
    ),
    R(
        "customer_key_is_pseudonym",
        "accuracy",
        "customer key is not a pseudonym (raw identifier leaked)",
        blocking=True,
    ),
    R(
        "invoiced_at_not_in_future",
        "timeliness",
        "invoice timestamp is after the load",
        blocking=True,
    ),
    QUARANTINE_SHARE,
)


def _as(c: pl.Expr, dtype) -> pl.Expr:
    """A text column parsed as `dtype`, null where it does not parse."""
    return c.str.strip_chars().cast(dtype, strict=False)


def _last_month_is_partial(ts: pl.Expr) -> pl.Expr:
    """True on rows of the newest month when the data stops before that month's last day."""
    newest = ts.max()
    month_of = ts.dt.truncate("1mo")
    partial = newest.dt.date() < newest.dt.month_end().dt.date()
    return ~((month_of == newest.dt.truncate("1mo")) & partial)


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Order lines as delivered: every value still text, rules measured on all delivered rows."""
    cfg: OrderLinesSource = catalog.order_lines
    present = is_present(cfg.missing_values)
    qty = _as(pl.col("quantity"), pl.Int64)
    when = (
        pl.col("invoice_date")
        .str.strip_chars()
        .str.strptime(pl.Datetime, cfg.timestamp_format, strict=False)
    )
    is_product = pl.col("stock_code").str.contains(cfg.product_code_pattern)
    cancellation = pl.col("invoice_no").str.starts_with(cfg.cancellation_prefix)
    desc = pl.col("description")  # as delivered: "A" and "A " are two descriptions
    text = pa.Column(pl.String, nullable=True)
    odd_countries = list(cfg.country_aliases) + list(cfg.unknown_country_labels)
    business = list(cfg.contract)
    return pa.DataFrameSchema(
        name="raw_order_lines",
        columns={
            "invoice_no": text,
            "stock_code": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "stock_code_is_product", lambda c: c.str.contains(cfg.product_code_pattern)
                    ),
                ],
            ),
            "description": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check("description_present", present, nulls_valid=False),
                    column_check("description_is_trimmed", lambda c: c == c.str.strip_chars()),
                    column_check("description_has_uppercase", lambda c: c.str.contains("[A-Z]")),
                ],
            ),
            "quantity": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "quantity_is_integer",
                        lambda c: _as(c, pl.Int64).is_not_null(),
                    ),
                    column_check(
                        "quantity_is_positive",
                        lambda c: _as(c, pl.Int64) > 0,
                    ),
                    column_check(
                        "quantity_within_plausible_range",
                        lambda c: _as(c, pl.Int64).abs() <= cfg.max_abs_quantity,
                    ),
                ],
            ),
            "invoice_date": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "invoice_date_parses",
                        lambda c: (
                            c.str.strip_chars()
                            .str.strptime(pl.Datetime, cfg.timestamp_format, strict=False)
                            .is_not_null()
                        ),
                    ),
                ],
            ),
            "unit_price": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "unit_price_is_numeric",
                        lambda c: _as(c, pl.Float64).is_not_null(),
                    ),
                    column_check(
                        "unit_price_not_zero",
                        lambda c: _as(c, pl.Float64) != 0,
                    ),
                    column_check(
                        "unit_price_within_plausible_range",
                        lambda c: _as(c, pl.Float64) <= cfg.max_unit_price,
                    ),
                    column_check(
                        "unit_price_not_negative",
                        lambda c: _as(c, pl.Float64) >= 0,
                    ),
                ],
            ),
            "customer_id": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check("customer_id_present", present, nulls_valid=False),
                ],
            ),
            "country": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check("country_is_recognised", lambda c: ~c.is_in(odd_countries)),
                ],
            ),
        },
        checks=[
            frame_check(
                "order_line_is_unique",
                ~pl.struct(business).is_duplicated(),
                together=business,
            ),
            frame_check("negative_quantity_only_on_cancellations", (qty >= 0) | cancellation),
            frame_check(
                "product_code_is_uppercase",
                ~(is_product & pl.col("stock_code").str.contains("[a-z]")),
            ),
            frame_check(
                "stock_code_has_one_description",
                desc.drop_nulls().n_unique().over("stock_code") <= 1,
                together=["stock_code"],
            ),
            frame_check(
                "description_has_one_stock_code",
                desc.is_null() | (pl.col("stock_code").n_unique().over(desc) <= 1),
                together=["description"],
            ),
            frame_check(
                "customer_has_one_country",
                pl.col("customer_id").is_null()
                | (pl.col("country").n_unique().over("customer_id") <= 1),
                together=["customer_id"],
            ),
            frame_check(
                "invoice_date_in_valid_range",
                (when >= pl.lit(cfg.earliest_valid_date).cast(pl.Datetime))
                & (when <= pl.lit(_now())),
            ),
            # the newest invoice date of the whole table decides
            frame_check("invoice_month_is_complete", _last_month_is_partial(when), together=[]),
        ],
        strict=False,
    )


def _now():
    from datetime import datetime

    return datetime.now()


# What makes a staged order line the same line: the uniqueness check compares these, and a large
# staged batch is validated in parts split by them (lib.quality.validate_table), so that the copies
# of a line always meet in one part. Every other staged check looks at one row at a time.
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

    @pa.dataframe_check(name="order_line_is_unique")
    def _unique(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct(STAGED_LINE_IDENTITY).is_duplicated())

    @pa.check("quantity", name="quantity_not_zero")
    def _qty(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) != 0)

    @pa.check("unit_price", name="unit_price_not_negative")
    def _price(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) >= 0)

    @pa.dataframe_check(name="sign_matches_invoice_type")
    def _sign(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("quantity") < 0) == pl.col("is_cancellation"))

    @pa.dataframe_check(name="line_amount_is_quantity_times_price")
    def _amount(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("line_amount")
            == (pl.col("quantity").cast(pl.Decimal(38, 4)) * pl.col("unit_price")).cast(
                pl.Decimal(18, 4)
            )
        )

    @pa.check("customer_key", name="customer_key_is_pseudonym")
    def _pseudonym(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col(data.key).is_null() | pl.col(data.key).str.contains(PSEUDONYM_PATTERN)
        )

    @pa.check("invoiced_at", name="invoiced_at_not_in_future")
    def _not_future(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) <= pl.lit(_now()))

    class Config:
        strict = False


def staged_schema(_catalog: SourceCatalog) -> pa.DataFrameSchema:
    """The staged order lines' schema (it does not depend on the catalogue)."""
    return StagedOrderLines.to_schema()
