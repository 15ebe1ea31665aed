"""Pandera schemas and rule books of the support-message stages."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_roi.lib.rules import (
    QUARANTINE_SHARE,
    TABLE_HAS_ROWS,
    Rule,
    RuleBook,
    delivered_columns,
    trimmed,
    typed_columns,
    unique_rows,
    value_present,
)
from ai_roi.sources import SourceCatalog

R = Rule
ASCII_PUNCTUATION = r"""[!-/:-@\[-`{-~]"""


def _label_ok(c: pl.Expr, labels: list[str]) -> pl.Expr:
    return c.is_in(labels) if labels else c.is_not_null()


_TEXT = pl.col("text")
# a message's text for near-duplicates: case, punctuation and spacing left out
_NEAR_KEY = (
    _TEXT.str.to_lowercase()
    .str.replace_all(ASCII_PUNCTUATION, "")
    .str.replace_all(r"\s+", " ")
    .str.strip_chars()
)

# Messages as delivered, rules measured on all delivered rows.
RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R(
        "text_present",
        "completeness",
        "message text is empty",
        on="text",
        valid=value_present,
        nulls_valid=False,
    ),
    R(
        "label_present",
        "completeness",
        "message has no label",
        on="label",
        valid=value_present,
        nulls_valid=False,
    ),
    R(
        "label_in_label_set",
        "accuracy",
        "label is not in the label set",
        on="label",
        valid=lambda c, cfg: _label_ok(c, cfg.label_set),
    ),
    R(
        "text_length_in_range",
        "accuracy",
        "text shorter than min_text_length or longer than max_text_length",
        on="text",
        valid=lambda c, cfg: (
            c.str.strip_chars().str.len_chars().is_between(cfg.min_text_length, cfg.max_text_length)
        ),
    ),
    trimmed("text_is_trimmed", "text has leading or trailing whitespace", "text"),
    R(
        "text_is_ascii",
        "consistency",
        "text has non-ASCII characters (curly quotes, currency signs)",
        on="text",
        valid=lambda c, cfg: ~c.str.contains(r"[^\x00-\x7F]"),
    ),
    # the first of a text in the file's order decides: validated on the whole table
    R(
        "text_unique_within_split",
        "uniqueness",
        "repeats an earlier message of its split, ignoring case, punctuation and spacing",
        valid_rows=lambda cfg: _NEAR_KEY.is_first_distinct().over("_partition"),
        together=(),
    ),
    R(
        "text_not_in_other_split",
        "uniqueness",
        "same text (ignoring case and outer spaces) already in an earlier split: leakage",
        valid_rows=lambda cfg: (
            pl.col("_partition")
            == pl.col("_partition").first().over(_TEXT.str.strip_chars().str.to_lowercase())
        ),
        together=(),
    ),
)

# Clean messages.
STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    unique_rows("message_id_is_unique", "two messages share an id", "message_id"),
    R(
        "label_in_label_set",
        "accuracy",
        "label is not in the label set",
        blocking=True,
        on="label",
        valid=lambda c, cfg: _label_ok(c, cfg.label_set),
    ),
    trimmed("text_is_trimmed", "text has leading or trailing whitespace", "text", blocking=True),
    R(
        "near_duplicates_flagged",
        "uniqueness",
        "near-duplicate messages within a split (kept, flagged)",
        valid_rows=lambda cfg: ~pl.col("is_near_duplicate"),
    ),
    QUARANTINE_SHARE,
)


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Messages as delivered, with the checks of RAW_RULES."""
    columns = delivered_columns(("text", "label"))
    return RAW_RULES.schema("raw_messages", columns, catalog.messages)


def staged_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Clean messages, with the checks of STAGED_RULES; one row per message."""
    columns = typed_columns(message_id=pl.String, text=pl.String, label=pl.String)
    return STAGED_RULES.schema("staged_messages", columns, catalog.messages)
