"""Quality checks of the raw support messages, one per dimension, and its monitors.

The staged messages' checks are their own (defs/messages/assets.py AUDIT): they run on each
staged batch before it is published.
"""

from dagster_project.defs.messages.assets import RAW_KEY
from dagster_project.defs.messages.schemas import RAW_RULES, raw_schema
from dagster_project.lib.checks import build_monitors, build_schema_checks, raw_monitors

raw_messages_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_messages",
    table="raw.messages__current",
    raw_of="messages",
    rulebook=RAW_RULES,
    schema=raw_schema,
)


raw_messages_monitors = build_monitors(
    asset_key=RAW_KEY, name="raw_messages_monitors", monitors=raw_monitors("messages")
)
