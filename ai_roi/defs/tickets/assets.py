"""CRM support tickets, one row per ticket, reduced from the published clean events.

The event log's own assets and checks come from the one factory every source uses
(defs/sources.py, declared in source.yaml beside this file).
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.defs.sources import SOURCES
from ai_roi.lib.assets import staged_version
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.warehouse import engine_of, rebuild_table

# the dbt macros of its queries, its code as much as this module (lib.code_versions)
CODE_PATHS = (
    "dbt/macros/staging/tickets.sql",
    "dbt/macros/profiles.sql",
    "dbt/macros/cross_engine.sql",
)
EVENTS_KEY = SOURCES["ticket_events"].staged_key
TICKETS_KEY = dg.AssetKey(["staged", "tickets"])


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
        # dbt/macros/staging/tickets.sql
        rebuild_table(con, "staged.tickets", render(engine_of(con), "staging_tickets"))
        rows_in = con.execute(
            "select count(distinct ticket_id) from staged.ticket_events"
        ).fetchone()[0]
        stats = con.execute(render(engine_of(con), "profile_tickets")).fetchone()
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
