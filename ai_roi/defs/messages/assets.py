"""CRM support messages with their labelled intent: delivered files (raw) and clean messages (staged).

The assets and checks come from the one factory every source uses (lib/source_assets.py); the
staged messages' checks are their own and run on each staged batch before it is published.
"""

from datetime import datetime

import dagster as dg

from ai_roi.defs.messages import schemas
from ai_roi.lib.source_assets import SourceDefinition, source_assets
from ai_roi.lib.warehouse import load_sql
from ai_roi.sources import MessagesSource


def staging_params(cfg: MessagesSource, _now: datetime) -> dict:
    return {"label_set": schemas.label_set(cfg), "min_text_length": cfg.min_text_length}


def profile(con) -> dict:
    """Redactions by kind and examples per label, for the staged materialisation."""
    per_label = con.execute(load_sql("profiles/messages")).fetchall()
    redactions = dict(
        con.execute(
            "select kind, count(*) from (select unnest(redacted_pii) as kind"
            " from staged.messages) group by kind order by kind"
        ).fetchall()
    )
    return {
        "pii_redacted_by_kind": dg.MetadataValue.json(redactions),
        "examples_per_label": dg.MetadataValue.json(
            {split: {"labels": n, "min": lo, "max": hi} for split, n, lo, hi in per_label}
        ),
    }


MESSAGES = SourceDefinition(
    name="messages",
    domain="crm",
    raw_description="Support messages exactly as delivered, with the file's split; one row per message line per delivery.",
    staged_description="Trimmed, labelled support messages with near-duplicate and leakage flags, e-mail addresses and phone, card and account numbers redacted; one row per clean message.",
    rules=schemas,
    staging_params=staging_params,
    flags=(
        "was_trimmed",
        "has_non_ascii",
        "is_near_duplicate",
        "appears_in_other_split",
        "has_redacted_pii",
    ),
    staged_profile=profile,
)
RAW_KEY, STAGED_KEY = MESSAGES.raw_key, MESSAGES.staged_key

raw_messages, staged_messages, raw_messages_checks, raw_messages_monitors = source_assets(MESSAGES)
