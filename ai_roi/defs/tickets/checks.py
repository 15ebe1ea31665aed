"""Quality checks of staged/tickets, one per dimension, run after it is reduced from the published
events (the event log's own checks come with its assets: defs/sources.py)."""

from ai_roi.defs.tickets.assets import TICKETS_KEY
from ai_roi.defs.tickets.schemas import TICKET_RULES, tickets_schema
from ai_roi.lib.checks import build_schema_checks

staged_tickets_checks = build_schema_checks(
    asset_key=TICKETS_KEY,
    prefix="staged_tickets",
    table="staged.tickets",
    rulebook=TICKET_RULES,
    schema=tickets_schema,
)
