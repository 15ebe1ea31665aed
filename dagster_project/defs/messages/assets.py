"""CRM support messages with their labelled intent: delivered files (raw) and clean messages (staged)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.messages.schemas import (
    QUARANTINE_RULES,
    STAGED_RULES,
    label_set,
    staged_schema,
)
from dagster_project.lib.assets import (
    StagingResources,
    ingest_raw,
    run_staging,
    staged_metadata,
    staged_version,
)
from dagster_project.lib.checks import Audit
from dagster_project.lib.warehouse import load_sql
from dagster_project.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)

RAW_KEY = dg.AssetKey(["raw", "messages"])
STAGED_KEY = dg.AssetKey(["staged", "messages"])

# the checks a staged batch passes before it is published (write, audit, publish)
AUDIT = Audit(
    asset_key=STAGED_KEY,
    prefix="staged_messages",
    rulebook=STAGED_RULES,
    schema=staged_schema,
    source="messages",
)


@dg.asset(
    key=RAW_KEY, group_name="raw", kinds={"duckdb"}, tags={"classification": "pii", "domain": "crm"}
)
def raw_messages(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, catalog: SourceCatalogResource
) -> dg.MaterializeResult:
    """Support messages exactly as delivered, with the file's split; one row per message line per delivery."""
    return ingest_raw(context, duckdb, "messages", catalog.load().messages)


@dg.asset(
    key=STAGED_KEY,
    deps=[RAW_KEY],
    group_name="staged",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "crm"},
    check_specs=AUDIT.specs(),
)
def staged_messages(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    catalog: SourceCatalogResource,
    privacy: PrivacyResource,
    params: ParamsResource,
    outputs: OutputsResource,
):
    """Trimmed, labelled support messages with near-duplicate and leakage flags, e-mail addresses and phone, card and account numbers redacted; one row per clean message."""
    cfg = catalog.load().messages
    staging = {
        "label_set": label_set(cfg),
        "min_text_length": cfg.min_text_length,
    }
    result, checks = yield from run_staging(
        context,
        duckdb,
        source="messages",
        config=cfg,
        rulebook=QUARANTINE_RULES,
        params=staging,
        audit=AUDIT,
        resources=StagingResources(catalog, params, outputs, privacy),
        flags=(
            "was_trimmed",
            "has_non_ascii",
            "is_near_duplicate",
            "appears_in_other_split",
            "has_redacted_pii",
        ),
    )
    with duckdb.get_connection() as con:
        per_label = con.execute(load_sql("profiles/messages")).fetchall()
        redactions = dict(
            con.execute(
                "select kind, count(*) from (select unnest(redacted_pii) as kind"
                " from staged.messages) group by kind order by kind"
            ).fetchall()
        )
    metadata = staged_metadata(result)
    metadata["pii_redacted_by_kind"] = dg.MetadataValue.json(redactions)
    metadata["examples_per_label"] = dg.MetadataValue.json(
        {split: {"labels": n, "min": lo, "max": hi} for split, n, lo, hi in per_label}
    )
    yield dg.MaterializeResult(metadata=metadata, data_version=staged_version(duckdb, "messages"))
    yield from checks
