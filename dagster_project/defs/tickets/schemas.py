"""Pandera schemas and rule books of the ticket stages: raw events, staged events, staged tickets."""

from __future__ import annotations

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
from dagster_project.sources import SourceCatalog, TicketEventsSource

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

RAW_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("value_present", "completeness", "value is empty or a missing-value token such as '?'"),
    R(
        "resolved_event_has_resolved_at",
        "completeness",
        "event in a resolved state without a resolution time",
    ),
    R("state_is_valid", "accuracy", "state is not one of valid_states"),
    R("counts_are_integers", "accuracy", "a count column is not a whole number"),
    R("made_sla_is_boolean", "accuracy", "made_sla is not a recognised yes/no value"),
    R("created_not_before_opened", "consistency", "record created before the ticket was opened"),
    R("updated_not_before_opened", "consistency", "event logged before the ticket was opened"),
    R("timestamps_parse", "timeliness", "opened_at or updated_at does not match timestamp_format"),
    R(
        "open_event_has_no_resolution_time",
        "timeliness",
        "event in a working state already carries a resolution time (leakage)",
    ),
    R("event_is_unique", "uniqueness", "event is an exact copy of another event"),
    R(
        "ticket_update_is_unique",
        "uniqueness",
        "two events share ticket and update counter",
        key="ticket_id",
    ),
    R(
        "priority_stable_within_ticket",
        "consistency",
        "priority value changes between events of a ticket",
        key="ticket_id",
    ),
    R(
        "category_stable_within_ticket",
        "consistency",
        "category value changes between events of a ticket",
        key="ticket_id",
    ),
)

QUARANTINE_RULES = RuleBook(
    R("ticket_id_missing", "completeness", "ticket number is empty", column="ticket_id"),
    R("state_invalid", "accuracy", "state is not one of valid_states", column="state"),
    R(
        "opened_at_unparseable",
        "timeliness",
        "opened time does not match timestamp_format",
        column="opened_at",
    ),
    R(
        "updated_at_unparseable",
        "timeliness",
        "event time does not match timestamp_format",
        column="updated_at",
    ),
    R(
        "resolution_time_unparseable",
        "timeliness",
        "resolved/closed time does not match timestamp_format",
        column="resolved_at",
    ),
    R(
        "count_not_integer",
        "accuracy",
        "a reassignment/reopen/update count is not a whole number",
        column="reassignment_count",
    ),
    R(
        "made_sla_not_boolean",
        "accuracy",
        "made_sla is not a recognised yes/no value",
        column="made_sla",
    ),
    R(
        "event_time_out_of_range",
        "timeliness",
        "opened or event time before earliest_valid_date or after the load",
        column="updated_at",
        clock=True,
    ),
    R(
        "updated_before_opened",
        "consistency",
        "event logged before the ticket was opened: impossible order",
        column="updated_at",
    ),
    R("duplicate_event", "uniqueness", "exact copy of an earlier event of the same delivery"),
    R(
        "event_in_earlier_delivery",
        "uniqueness",
        "exact copy of an event of an earlier delivery (an overlapping or re-cut export): "
        "counted once, in the delivery that brought it first",
        averts_bad_decision=False,
    ),
    R(
        "event_in_other_file",
        "uniqueness",
        "exact copy of a event delivered in another file (overlapping exports): counted once",
        averts_bad_decision=False,
    ),
    VALUE_TOO_LONG,
)

STAGED_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("state_is_valid", "accuracy", "state is not one of valid_states", blocking=True),
    R(
        "people_are_pseudonymised",
        "accuracy",
        "a person column holds something other than a pseudonym",
        blocking=True,
    ),
    R("counts_not_negative", "accuracy", "a count is negative", blocking=True),
    R(
        "updated_not_before_opened",
        "consistency",
        "event logged before the ticket was opened",
        blocking=True,
    ),
    R("created_not_before_opened", "consistency", "record created before the ticket was opened"),
    R(
        "known_resolution_not_in_future",
        "timeliness",
        "resolved_at_known is later than the event",
        blocking=True,
    ),
    R(
        "event_sequence_is_unique",
        "uniqueness",
        "two events share ticket and sequence number",
        blocking=True,
    ),
    QUARANTINE_SHARE,
)

TICKET_RULES = RuleBook(
    TABLE_HAS_ROWS,
    R("ticket_id_is_unique", "uniqueness", "ticket appears more than once", blocking=True),
    R(
        "resolved_ticket_has_resolution_time",
        "completeness",
        "resolved ticket without any resolution time",
    ),
    R(
        "final_event_has_resolved_at",
        "completeness",
        "the ticket's final event carries no resolution time",
    ),
    R(
        "open_ticket_has_no_resolution_time",
        "timeliness",
        "open ticket with a resolution time (leakage)",
        blocking=True,
    ),
    R(
        "resolution_not_before_opening",
        "consistency",
        "resolution time before the ticket was opened",
    ),
    R("priority_stable_within_ticket", "consistency", "priority changed during the ticket's life"),
    R("category_stable_within_ticket", "consistency", "category changed during the ticket's life"),
)


def _ts(column: str, fmt: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.strptime(pl.Datetime, fmt, strict=False)


def raw_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Ticket events as delivered: every value still text, rules measured on all delivered rows."""
    cfg: TicketEventsSource = catalog.ticket_events
    fmt = cfg.timestamp_format
    flags = cfg.true_values + cfg.false_values
    present = is_present(cfg.missing_values)
    resolved_states = cfg.resolved_states
    closing = cfg.resolved_states + cfg.closed_states
    columns = {c: pa.Column(pl.String, nullable=True) for c in cfg.contract}
    for name in OPTIONAL_TEXT:
        columns[name] = pa.Column(
            pl.String,
            nullable=True,
            checks=[column_check("value_present", present, nulls_valid=False)],
        )
    columns["state"] = pa.Column(
        pl.String,
        nullable=True,
        checks=[
            column_check("state_is_valid", lambda c: c.is_in(cfg.valid_states), nulls_valid=False)
        ],
    )
    columns["made_sla"] = pa.Column(
        pl.String,
        nullable=True,
        checks=[
            column_check(
                "made_sla_is_boolean",
                lambda c: c.str.to_lowercase().is_in(flags),
                nulls_valid=False,
            )
        ],
    )
    count_ok = pl.all_horizontal(
        pl.col(c).str.strip_chars().cast(pl.Int64, strict=False).is_not_null() | pl.col(c).is_null()
        for c in ("reassignment_count", "reopen_count", "update_count")
    )
    opened, updated, created = _ts("opened_at", fmt), _ts("updated_at", fmt), _ts("created_at", fmt)
    resolved = _ts("resolved_at", fmt)
    return pa.DataFrameSchema(
        name="raw_ticket_events",
        columns=columns,
        checks=[
            frame_check(
                "resolved_event_has_resolved_at",
                ~(pl.col("state").is_in(resolved_states) & resolved.is_null()),
            ),
            frame_check("counts_are_integers", count_ok),
            frame_check("created_not_before_opened", ~(created < opened)),
            frame_check("updated_not_before_opened", ~(updated < opened)),
            frame_check(
                "timestamps_parse", opened.is_not_null() & updated.is_not_null(), nulls_valid=False
            ),
            frame_check(
                "open_event_has_no_resolution_time",
                ~(~pl.col("state").is_in(closing) & resolved.is_not_null()),
            ),
            frame_check(
                "event_is_unique",
                ~pl.struct(list(cfg.contract)).is_duplicated(),
                together=list(cfg.contract),
            ),
            # as delivered: a change from '?' to a value counts, as in the source's own figures
            frame_check(
                "priority_stable_within_ticket",
                pl.col("priority").n_unique().over("ticket_id") <= 1,
                together=["ticket_id"],
            ),
            frame_check(
                "category_stable_within_ticket",
                pl.col("category").n_unique().over("ticket_id") <= 1,
                together=["ticket_id"],
            ),
            frame_check(
                "ticket_update_is_unique",
                pl.col("update_count").is_null()
                | ~pl.struct("ticket_id", "update_count").is_duplicated(),
                together=["ticket_id", "update_count"],
            ),
        ],
        strict=False,
    )


def staged_schema(catalog: SourceCatalog) -> pa.DataFrameSchema:
    """Typed ticket events that passed every row-level rule; one row per event."""
    cfg = catalog.ticket_events
    pseudonymised = pl.all_horizontal(
        pl.col(c).is_null() | pl.col(c).str.contains(PSEUDONYM) for c in PEOPLE_KEYS
    )
    counts = pl.all_horizontal(
        (pl.col(c) >= 0) | pl.col(c).is_null()
        for c in ("reassignment_count", "reopen_count", "update_count")
    )
    return pa.DataFrameSchema(
        name="staged_ticket_events",
        columns={
            "ticket_id": pa.Column(pl.String, nullable=False),
            "event_seq": pa.Column(pl.Int64, nullable=False),
            "state": pa.Column(
                pl.String,
                nullable=False,
                checks=[column_check("state_is_valid", lambda c: c.is_in(cfg.valid_states))],
            ),
            "opened_at": pa.Column(pl.Datetime, nullable=False),
            "updated_at": pa.Column(pl.Datetime, nullable=False),
            "made_sla": pa.Column(pl.Boolean, nullable=False),
        },
        checks=[
            frame_check("people_are_pseudonymised", pseudonymised),
            frame_check("counts_not_negative", counts),
            frame_check("updated_not_before_opened", pl.col("updated_at") >= pl.col("opened_at")),
            frame_check("created_not_before_opened", ~(pl.col("created_at") < pl.col("opened_at"))),
            frame_check(
                "known_resolution_not_in_future",
                ~(pl.col("resolved_at_known") > pl.col("updated_at")),
            ),
            frame_check(
                "event_sequence_is_unique",
                ~pl.struct("ticket_id", "event_seq").is_duplicated(),
                together=["ticket_id", "event_seq"],
            ),
        ],
        strict=False,
    )


def tickets_schema(_catalog: SourceCatalog) -> pa.DataFrameSchema:
    """One row per ticket, reduced from its clean events."""
    return pa.DataFrameSchema(
        name="staged_tickets",
        columns={
            "ticket_id": pa.Column(pl.String, nullable=False),
            "opened_at": pa.Column(pl.Datetime, nullable=False),
            "is_resolved": pa.Column(pl.Boolean, nullable=False),
            "priority": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "priority_stable_within_ticket", lambda _c: ~pl.col("priority_changed")
                    )
                ],
            ),
            "category": pa.Column(
                pl.String,
                nullable=True,
                checks=[
                    column_check(
                        "category_stable_within_ticket", lambda _c: ~pl.col("category_changed")
                    )
                ],
            ),
        },
        checks=[
            frame_check(
                "ticket_id_is_unique", ~pl.col("ticket_id").is_duplicated(), together=["ticket_id"]
            ),
            frame_check(
                "resolved_ticket_has_resolution_time",
                ~(pl.col("is_resolved") & pl.col("resolved_at").is_null()),
            ),
            frame_check(
                "final_event_has_resolved_at",
                pl.col("final_resolved_at_reported").is_not_null(),
                nulls_valid=False,
            ),
            frame_check(
                "open_ticket_has_no_resolution_time",
                pl.col("is_resolved") | pl.col("resolved_at").is_null(),
            ),
            frame_check(
                "resolution_not_before_opening", ~(pl.col("resolved_at") < pl.col("opened_at"))
            ),
        ],
        strict=False,
    )
