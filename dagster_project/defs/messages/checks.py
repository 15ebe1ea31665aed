"""Quality checks of the support-message stages, one per dimension per stage."""

from dagster_project.defs.messages.assets import RAW_KEY, STAGED_KEY
from dagster_project.defs.messages.schemas import RAW_RULES, STAGED_RULES, raw_schema, staged_schema
from dagster_project.lib.checks import build_monitors, build_schema_checks, raw_monitors

raw_messages_checks = build_schema_checks(
    asset_key=RAW_KEY,
    prefix="raw_messages",
    table="raw.messages__current",
    raw_of="messages",
    rulebook=RAW_RULES,
    schema=raw_schema,
)

staged_messages_checks = build_schema_checks(
    asset_key=STAGED_KEY,
    prefix="staged_messages",
    table="staged.messages",
    rulebook=STAGED_RULES,
    schema=staged_schema,
    source="messages",
)

raw_messages_monitors = build_monitors(
    asset_key=RAW_KEY, name="raw_messages_monitors", monitors=raw_monitors("messages")
)
