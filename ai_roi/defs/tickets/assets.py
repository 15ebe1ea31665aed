"""CRM support tickets: the delivered event log (raw), clean events, and one row per ticket.

The event log's assets and checks come from the one factory every source uses
(lib/source_assets.py); staged/tickets is reduced from the published events.
"""

from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.defs.tickets import schemas
from ai_roi.lib.assets import staged_version
from ai_roi.lib.source_assets import SourceDefinition, source_assets
from ai_roi.lib.staging import register_macros
from ai_roi.lib.warehouse import load_sql
from ai_roi.sources import TicketEventsSource


def staging_params(cfg: TicketEventsSource, now: datetime) -> dict:
    return {
        "timestamp_format": cfg.timestamp_format,
        "valid_states": cfg.valid_states,
        "resolved_states": cfg.resolved_states,
        "closed_states": cfg.closed_states,
        "true_values": cfg.true_values,
        "false_values": cfg.false_values,
        "earliest_valid_date": cfg.earliest_valid_date,
        "latest_valid_at": now,
    }


TICKET_EVENTS = SourceDefinition(
    name="ticket_events",
    domain="crm",
    raw_description="Ticket event log exactly as delivered, all text, plus load metadata; one row per event line per delivery.",
    staged_description="Typed ticket events of the accepted deliveries, people pseudonymised; one row per clean event.",
    rules=schemas,
    staging_params=staging_params,
    flags=("is_resolved_state", "is_closed_state"),
    time_column="updated_at",
)
RAW_KEY, EVENTS_KEY = TICKET_EVENTS.raw_key, TICKET_EVENTS.staged_key
TICKETS_KEY = dg.AssetKey(["staged", "tickets"])

raw_ticket_events, staged_ticket_events, raw_ticket_events_checks, raw_ticket_events_monitors = (
    source_assets(TICKET_EVENTS)
)


@dg.asset(
    key=TICKETS_KEY,
    deps=[EVENTS_KEY],
    group_name="staged",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "crm"},
)
def staged_tickets(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Tickets reduced from their clean events, resolution times only as known to the log; one row per ticket."""
    with duckdb.get_connection() as con:
        register_macros(con)
        con.execute(f"create or replace table staged.tickets as {load_sql('staging/tickets')}")
        rows_in = con.execute(
            "select count(distinct ticket_id) from staged.ticket_events"
        ).fetchone()[0]
        stats = con.execute(load_sql("profiles/tickets")).fetchone()
    names = [
        "tickets",
        "resolved",
        "reassigned",
        "reopened",
        "missed_sla",
        "median_resolution_hours",
        "final_event_without_resolved_at",
        "priority_changed",
        "category_changed",
        "tickets_in_busiest_3_months",
        "events_top_contact_type_pct",
        "events_top_priority_pct",
    ]
    profile = dict(zip(names, stats, strict=True))
    return dg.MaterializeResult(
        # reduced from the staged events alone: their data version is this table's
        data_version=staged_version(duckdb, "ticket_events"),
        metadata={
            "rows_in": rows_in,
            "rows_clean": profile["tickets"],
            "rows_quarantined": 0,
            "dagster/row_count": profile["tickets"],
            "profile": dg.MetadataValue.json(profile),
        },
    )
