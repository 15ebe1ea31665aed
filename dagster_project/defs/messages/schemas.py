"""Pandera schemas and rule books of the support-message stages."""

from __future__ import annotations

import json

import pandera.polars as pa
import polars as pl

from dagster_project.lib.quality import (
    QUARANTINE_SHARE,
    TABLE_HAS_ROWS,
    Rule,
    RuleBook,
    column_check,
    frame_check,
    is_present,
)
from dagster_project.sources import MessagesSource, SourceCatalog, SourceConfigError

R = Rule
ASCII_PUNCTUATION = r"""[!-/:-@\[-`{-~]"""

RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("text_present", "completeness", "message text is empty"),
    R("label_present", "completeness", "message has no label"),
    R("label_in_label_set", "accuracy", "label is not in the label set"),
    R(
        "text_length_in_range",
        "accuracy",
        "text shorter than min_text_length or longer than max_text_length",
    ),
    R("text_is_trimmed", "consistency", "text has leading or trailing whitespace"),
    R(
        "text_is_ascii",
        "consistency",
        "text has non-ASCII characters (curly quotes, currency signs)",
    ),
    R(
        "text_unique_within_split",
        "uniqueness",
        "repeats an earlier message of its split, ignoring case, punctuation and spacing",
    ),
    R(
        "text_not_in_other_split",
        "uniqueness",
        "same text (ignoring case and outer spaces) already in an earlier split: leakage",
    ),
)

QUARANTINE_RULES = RuleBook(
    R("text_missing", "completeness", "message text is empty", column="text"),
    R("label_missing", "completeness", "message has no label", column="label"),
    R(
        "label_unknown",
        "accuracy",
        "label is not in the label set (label_set_path)",
        column="label",
    ),
    R(
        "text_length_out_of_range",
        "accuracy",
        "text shorter than min_text_length or longer than max_text_length",
        column="text",
    ),
    R("duplicate_message", "uniqueness", "exact copy of an earlier message of the same split"),
)

STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("message_id_is_unique", "uniqueness", "two messages share an id", blocking=True),
    R("label_in_label_set", "accuracy", "label is not in the label set", blocking=True),
    R("text_is_trimmed", "consistency", "text has leading or trailing whitespace", blocking=True),
    R(
        "near_duplicates_flagged",
        "uniqueness",
        "near-duplicate messages within a split (kept, flagged)",
    ),
    QUARANTINE_SHARE,
)


def label_set(cfg: MessagesSource) -> list[str]:
    """Allowed labels from label_set_path (a JSON list), or [] when any label is allowed."""
    if cfg.label_set_path is None:
        return []
    expected = 'a JSON list of label strings, e.g. ["card_arrival", "lost_card"]'
    try:
        labels = json.loads(cfg.label_set_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceConfigError(
            f"label set {cfg.label_set_path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}; expected {expected} (sources.messages.label_set_path)"
        ) from None
    except OSError as exc:
        raise SourceConfigError(
            f"label set {cfg.label_set_path} cannot be read ({exc.strerror}); "
            "fix sources.messages.label_set_path"
        ) from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SourceConfigError(f"{cfg.label_set_path}: expected {expected}")
    return labels


def _label_ok(labels: list[str]):
    return (lambda c: c.is_in(labels)) if labels else (lambda c: c.is_not_null())


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Messages as delivered, rules measured on all delivered rows."""
    cfg = catalog.messages
    labels = label_set(cfg)
    text = pl.col("text")
    near_key = (
        text.str.to_lowercase()
        .str.replace_all(ASCII_PUNCTUATION, "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    leak_key = text.str.strip_chars().str.to_lowercase()
    return pa.DataFrameSchema(
        name="raw_messages",
        columns={
            "text": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check("text_present", is_present(cfg.missing_values), nulls_valid=False),
                    column_check("text_is_trimmed", lambda c: c == c.str.strip_chars()),
                    column_check("text_is_ascii", lambda c: ~c.str.contains(r"[^\x00-\x7F]")),
                    column_check(
                        "text_length_in_range",
                        lambda c: (
                            c.str.strip_chars()
                            .str.len_chars()
                            .is_between(cfg.min_text_length, cfg.max_text_length)
                        ),
                    ),
                ],
            ),
            "label": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "label_present", is_present(cfg.missing_values), nulls_valid=False
                    ),
                    column_check("label_in_label_set", _label_ok(labels)),
                ],
            ),
        },
        checks=[
            # the first of a text in the file's order decides: validated on the whole table
            frame_check(
                "text_unique_within_split",
                near_key.is_first_distinct().over("_partition"),
                together=[],
            ),
            frame_check(
                "text_not_in_other_split",
                pl.col("_partition") == pl.col("_partition").first().over(leak_key),
                together=[],
            ),
        ],
        strict=False,
    )


def staged_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Clean messages; one row per message."""
    labels = label_set(catalog.messages)
    return pa.DataFrameSchema(
        name="staged_messages",
        columns={
            "message_id": pa.Column(pl.String, nullable=False),
            "text": pa.Column(
                pl.String,
                nullable=False,
                checks=[
                    column_check("text_is_trimmed", lambda c: c == c.str.strip_chars()),
                ],
            ),
            "label": pa.Column(
                pl.String,
                nullable=False,
                checks=[column_check("label_in_label_set", _label_ok(labels))],
            ),
        },
        checks=[
            frame_check(
                "message_id_is_unique",
                ~pl.col("message_id").is_duplicated(),
                together=["message_id"],
            ),
            frame_check("near_duplicates_flagged", ~pl.col("is_near_duplicate")),
        ],
        strict=False,
    )
