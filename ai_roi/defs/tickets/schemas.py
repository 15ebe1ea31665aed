"""Pandera schemas and rule books of the ticket stages: raw events, staged events, staged tickets."""

from __future__ import annotations

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
    typed_columns,
    unique_rows,
    value_present,
)
from ai_roi.sources import SourceCatalog, TicketEventsSource

R = Rule
PSEUDONYM = PSEUDONYM_PATTERN
PEOPLE_KEYS = (
    "caller_key",
    "opened_by_key",
    "created_by_key",
    "updated_by_key",
    "assigned_to_key",
    "resolved_by_key",
)
# Columns a ticket log may leave empty; each empty value is counted, per column.
OPTIONAL_TEXT = (
    "caller_id",
    "opened_by",
    "created_by",
    "created_at",
    "location",
    "category",
    "subcategory",
    "symptom",
    "assignment_group",
    "assigned_to",
    "closed_code",
    "resolved_by",
    "resolved_at",
)


def _ts(column: str, fmt: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.strptime(pl.Datetime, fmt, strict=False)


COUNTS = ("reassignment_count", "reopen_count", "update_count")

# Ticket events as delivered: every value still text, rules measured on all delivered rows.
RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R(
        "value_present",
        "completeness",
        "value is empty or a missing-value token such as '?'",
        on=OPTIONAL_TEXT,
        valid=value_present,
        nulls_valid=False,
    ),
    R(
        "resolved_event_has_resolved_at",
        "completeness",
        "event in a resolved state without a resolution time",
        valid_rows=lambda cfg: (
            ~(
                pl.col("state").is_in(cfg.resolved_states)
                & _ts("resolved_at", cfg.timestamp_format).is_null()
            )
        ),
    ),
    R(
        "state_is_valid",
        "accuracy",
        "state is not one of valid_states",
        on="state",
        valid=lambda c, cfg: c.is_in(cfg.valid_states),
        nulls_valid=False,
    ),
    R(
        "counts_are_integers",
        "accuracy",
        "a count column is not a whole number",
        valid_rows=lambda cfg: pl.all_horizontal(
            pl.col(c).str.strip_chars().cast(pl.Int64, strict=False).is_not_null()
            | pl.col(c).is_null()
            for c in COUNTS
        ),
    ),
    R(
        "made_sla_is_boolean",
        "accuracy",
        "made_sla is not a recognised yes/no value",
        on="made_sla",
        valid=lambda c, cfg: c.str.to_lowercase().is_in(cfg.true_values + cfg.false_values),
        nulls_valid=False,
    ),
    R(
        "created_not_before_opened",
        "consistency",
        "record created before the ticket was opened",
        valid_rows=lambda cfg: (
            ~(_ts("created_at", cfg.timestamp_format) < _ts("opened_at", cfg.timestamp_format))
        ),
    ),
    R(
        "updated_not_before_opened",
        "consistency",
        "event logged before the ticket was opened",
        valid_rows=lambda cfg: (
            ~(_ts("updated_at", cfg.timestamp_format) < _ts("opened_at", cfg.timestamp_format))
        ),
    ),
    R(
        "timestamps_parse",
        "timeliness",
        "opened_at or updated_at does not match timestamp_format",
        valid_rows=lambda cfg: (
            _ts("opened_at", cfg.timestamp_format).is_not_null()
            & _ts("updated_at", cfg.timestamp_format).is_not_null()
        ),
        nulls_valid=False,
    ),
    R(
        "open_event_has_no_resolution_time",
        "timeliness",
        "event in a working state already carries a resolution time (leakage)",
        valid_rows=lambda cfg: (
            ~(
                ~pl.col("state").is_in(cfg.resolved_states + cfg.closed_states)
                & _ts("resolved_at", cfg.timestamp_format).is_not_null()
            )
        ),
    ),
    exact_copy("event_is_unique", "event is an exact copy of another event"),
    R(
        "ticket_update_is_unique",
        "uniqueness",
        "two events share ticket and update counter",
        key="ticket_id",
        valid_rows=lambda cfg: (
            pl.col("update_count").is_null()
            | ~pl.struct("ticket_id", "update_count").is_duplicated()
        ),
        together=("ticket_id", "update_count"),
    ),
    # as delivered: a change from '?' to a value counts, as in the source's own figures
    one_value_per(
        "priority_stable_within_ticket",
        "priority value changes between events of a ticket",
        "priority",
        per="ticket_id",
    ),
    one_value_per(
        "category_stable_within_ticket",
        "category value changes between events of a ticket",
        "category",
        per="ticket_id",
    ),
)

# Typed ticket events that passed every row-level rule.
STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R(
        "state_is_valid",
        "accuracy",
        "state is not one of valid_states",
        blocking=True,
        on="state",
        valid=lambda c, cfg: c.is_in(cfg.valid_states),
    ),
    R(
        "people_are_pseudonymised",
        "accuracy",
        "a person column holds something other than a pseudonym",
        blocking=True,
        valid_rows=lambda _: pl.all_horizontal(
            pl.col(c).is_null() | pl.col(c).str.contains(PSEUDONYM) for c in PEOPLE_KEYS
        ),
    ),
    R(
        "counts_not_negative",
        "accuracy",
        "a count is negative",
        blocking=True,
        valid_rows=lambda _: pl.all_horizontal(
            (pl.col(c) >= 0) | pl.col(c).is_null() for c in COUNTS
        ),
    ),
    R(
        "updated_not_before_opened",
        "consistency",
        "event logged before the ticket was opened",
        blocking=True,
        valid_rows=lambda _: pl.col("updated_at") >= pl.col("opened_at"),
    ),
    R(
        "created_not_before_opened",
        "consistency",
        "record created before the ticket was opened",
        valid_rows=lambda _: ~(pl.col("created_at") < pl.col("opened_at")),
    ),
    R(
        "known_resolution_not_in_future",
        "timeliness",
        "resolved_at_known is later than the event",
        blocking=True,
        valid_rows=lambda _: ~(pl.col("resolved_at_known") > pl.col("updated_at")),
    ),
    unique_rows(
        "event_sequence_is_unique",
        "two events share ticket and sequence number",
        "ticket_id",
        "event_seq",
    ),
    QUARANTINE_SHARE,
)

# One row per ticket, reduced from its clean events.
TICKET_RULES = RuleBook(
    TABLE_HAS_ROWS,
    unique_rows("ticket_id_is_unique", "ticket appears more than once", "ticket_id"),
    R(
        "resolved_ticket_has_resolution_time",
        "completeness",
        "resolved ticket without any resolution time",
        valid_rows=lambda _: ~(pl.col("is_resolved") & pl.col("resolved_at").is_null()),
    ),
    R(
        "final_event_has_resolved_at",
        "completeness",
        "the ticket's final event carries no resolution time",
        valid_rows=lambda _: pl.col("final_resolved_at_reported").is_not_null(),
        nulls_valid=False,
    ),
    R(
        "open_ticket_has_no_resolution_time",
        "timeliness",
        "open ticket with a resolution time (leakage)",
        blocking=True,
        valid_rows=lambda _: pl.col("is_resolved") | pl.col("resolved_at").is_null(),
    ),
    R(
        "resolution_not_before_opening",
        "consistency",
        "resolution time before the ticket was opened",
        valid_rows=lambda _: ~(pl.col("resolved_at") < pl.col("opened_at")),
    ),
    R(
        "priority_stable_within_ticket",
        "consistency",
        "priority changed during the ticket's life",
        on="priority",
        valid=lambda _c, _: ~pl.col("priority_changed"),
    ),
    R(
        "category_stable_within_ticket",
        "consistency",
        "category changed during the ticket's life",
        on="category",
        valid=lambda _c, _: ~pl.col("category_changed"),
    ),
)


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Ticket events as delivered (every value still text), with the checks of RAW_RULES."""
    cfg: TicketEventsSource = catalog.ticket_events
    return RAW_RULES.schema("raw_ticket_events", delivered_columns(cfg.contract), cfg)


def staged_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Typed ticket events, with the checks of STAGED_RULES; one row per event."""
    columns = typed_columns(
        ticket_id=pl.String,
        event_seq=pl.Int64,
        state=pl.String,
        opened_at=pl.Datetime,
        updated_at=pl.Datetime,
        made_sla=pl.Boolean,
    )
    return STAGED_RULES.schema("staged_ticket_events", columns, catalog.ticket_events)


def tickets_schema(_catalog: SourceCatalog) -> pa.DataFrameSchema:
    """One row per ticket, with the checks of TICKET_RULES."""
    columns = typed_columns(
        ("priority", "category"),
        ticket_id=pl.String,
        opened_at=pl.Datetime,
        is_resolved=pl.Boolean,
        priority=pl.String,
        category=pl.String,
    )
    return TICKET_RULES.schema("staged_tickets", columns, None)
