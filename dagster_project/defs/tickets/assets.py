"""CRM support tickets: the delivered event log (raw), clean events, and one row per ticket."""

from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.tickets.schemas import (
    QUARANTINE_RULES,
    STAGED_EVENT_RULES,
    staged_events_schema,
)
from dagster_project.lib.assets import (
    StagingResources,
    ingest_raw,
    run_staging,
    staged_metadata,
    staged_version,
)
from dagster_project.lib.checks import Audit, staged_monitors
from dagster_project.lib.staging import register_macros
from dagster_project.lib.warehouse import load_sql
from dagster_project.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from dagster_project.sources import TicketEventsSource

RAW_KEY = dg.AssetKey(["raw", "ticket_events"])
EVENTS_KEY = dg.AssetKey(["staged", "ticket_events"])
TICKETS_KEY = dg.AssetKey(["staged", "tickets"])

# the checks a staged batch of events passes before it is published (write, audit, publish)
AUDIT = Audit(
    asset_key=EVENTS_KEY,
    prefix="staged_ticket_events",
    rulebook=STAGED_EVENT_RULES,
    schema=staged_events_schema,
    source="ticket_events",
    monitors=lambda table: staged_monitors("ticket_events", table, "updated_at"),
)


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
    check_specs=AUDIT.specs(),
)
def staged_ticket_events(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    catalog: SourceCatalogResource,
    privacy: PrivacyResource,
    params: ParamsResource,
    outputs: OutputsResource,
):
    """Typed ticket events of the accepted deliveries, people pseudonymised; one row per clean event."""
    cfg = catalog.load().ticket_events
    result, checks = yield from run_staging(
        context,
        duckdb,
        source="ticket_events",
        config=cfg,
        rulebook=QUARANTINE_RULES,
        params=staging_params(cfg, datetime.now()),
        audit=AUDIT,
        resources=StagingResources(catalog, params, outputs, privacy),
        flags=("is_resolved_state", "is_closed_state"),
    )
    yield dg.MaterializeResult(
        metadata=staged_metadata(result), data_version=staged_version(duckdb, "ticket_events")
    )
    yield from checks


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
