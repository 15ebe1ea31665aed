"""CRM support tickets: the delivered event log (raw), clean events, and one row per ticket."""

from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import PrivacyResource, SourceCatalogResource
from dagster_project.defs.tickets.schemas import QUARANTINE_RULES
from dagster_project.lib.assets import ingest_raw, run_staging, staged_metadata
from dagster_project.lib.staging import register_macros
from dagster_project.lib.warehouse import load_sql
from dagster_project.sources import TicketEventsSource

RAW_KEY = dg.AssetKey(["raw", "ticket_events"])
EVENTS_KEY = dg.AssetKey(["staged", "ticket_events"])
TICKETS_KEY = dg.AssetKey(["staged", "tickets"])


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


@dg.asset(
    key=RAW_KEY, group_name="raw", kinds={"duckdb"}, tags={"classification": "pii", "domain": "crm"}
)
def raw_ticket_events(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, catalog: SourceCatalogResource
) -> dg.MaterializeResult:
    """Ticket event log exactly as delivered, all text, plus load metadata; one row per event line per delivery."""
    return ingest_raw(context, duckdb, "ticket_events", catalog.load().ticket_events)


@dg.asset(
    key=EVENTS_KEY,
    deps=[RAW_KEY],
    group_name="staged",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "crm"},
)
def staged_ticket_events(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    catalog: SourceCatalogResource,
    privacy: PrivacyResource,
) -> dg.MaterializeResult:
    """Typed ticket events of the current delivery, people pseudonymised; one row per clean event."""
    cfg = catalog.load().ticket_events
    result = run_staging(
        context,
        duckdb,
        privacy.key,
        source="ticket_events",
        config=cfg,
        rulebook=QUARANTINE_RULES,
        params=staging_params(cfg, datetime.now()),
        flags=("is_resolved_state", "is_closed_state"),
    )
    return dg.MaterializeResult(metadata=staged_metadata(result))


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
        metadata={
            "rows_in": rows_in,
            "rows_clean": profile["tickets"],
            "rows_quarantined": 0,
            "dagster/row_count": profile["tickets"],
            "profile": dg.MetadataValue.json(profile),
        }
    )
