"""Quality checks of the ticket stages, one per dimension per stage.

The staged events' checks are their own (defs/tickets/assets.py AUDIT): they run on each staged
batch before it is published. staged/tickets is reduced from the published events, and checked
after.
"""

from dagster_project.defs.tickets.assets import RAW_KEY, TICKETS_KEY
from dagster_project.defs.tickets.schemas import (
    RAW_RULES,
    TICKET_RULES,
    raw_schema,
    tickets_schema,
)
from dagster_project.lib.checks import (
    build_monitors,
    build_schema_checks,
    raw_monitors,
)

raw_ticket_events_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_ticket_events",
    table="raw.ticket_events__current",
    raw_of="ticket_events",
    rulebook=RAW_RULES,
    schema=raw_schema,
)


staged_tickets_checks = build_schema_checks(
    asset_key=TICKETS_KEY,
    prefix="staged_tickets",
    table="staged.tickets",
    rulebook=TICKET_RULES,
    schema=tickets_schema,
)

raw_ticket_events_monitors = build_monitors(
    asset_key=RAW_KEY, name="raw_ticket_events_monitors", monitors=raw_monitors("ticket_events")
)
