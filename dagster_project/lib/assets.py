"""Bodies shared by the raw and staged assets of every source."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.lib.quality import RuleBook
from dagster_project.lib.staging import StageResult, StagingRefused, stage_source
from dagster_project.lib.warehouse import IngestError, LoadResult, load_source
from dagster_project.sources import SourceConfig


def ingest_raw(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, source: str, config: SourceConfig
) -> dg.MaterializeResult:
    """Load the source's new files as deliveries (see lib.warehouse) and describe the load."""
    try:
        with duckdb.get_connection() as con:
            result: LoadResult = load_source(con, source, config, context.run.run_id)
    except IngestError as error:  # a clear message, not a traceback: the file is the problem
        raise dg.Failure(description=str(error), allow_retries=False) from None
    if result.reused:
        context.log.info(f"{source}: no new file since load {result.load_id}; nothing loaded")
    for d in result.deliveries:
        if d["new"]:
            context.log.info(f"{source}: new delivery {d['load_id']} ({d['rows']:,} rows)")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.rows,
            "load_id": result.load_id,
            "reused_previous_load": result.reused,
            "files": dg.MetadataValue.json(result.files),
            "deliveries": dg.MetadataValue.json(result.deliveries),
            "file_columns": dg.MetadataValue.json(result.file_columns),
            "column_mapping": dg.MetadataValue.json(config.columns),
        }
    )


def run_staging(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    pseudonym_key: str,
    *,
    source: str,
    config: SourceConfig,
    rulebook: RuleBook,
    params: dict,
    flags: tuple[str, ...] = (),
) -> StageResult:
    """Stage the source's deliveries in play and split off its quarantine (see lib.staging)."""
    try:
        with duckdb.get_connection() as con:
            return stage_source(
                con,
                source=source,
                rulebook=rulebook,
                params={
                    "missing_values": config.missing_values,
                    "max_text_length": config.max_text_length,
                    **params,
                },
                config=config,
                run_id=context.run.run_id,
                pseudonym_key=pseudonym_key,
                flags=flags,
            )
    except StagingRefused as refused:
        raise dg.Failure(description=str(refused), allow_retries=False) from None


def staged_metadata(result: StageResult) -> dict:
    """Row accounting for a staged asset: rows_in = rows_clean + rows_quarantined.

    rows_in counts the rows in play after a replace_overlap delivery restated its months; the rows
    it replaced are rows_superseded (still in raw).
    """
    return {
        "rows_in": result.rows_in,
        "rows_clean": result.rows_clean,
        "rows_quarantined": result.rows_quarantined,
        "rows_superseded": result.rows_superseded,
        "deliveries": result.deliveries,
        "published_deliveries": dg.MetadataValue.json(list(result.published)),
        "dagster/row_count": result.rows_clean,
        "quarantined_by_rule": dg.MetadataValue.json(result.quarantined_by_rule),
        "flagged_rows": dg.MetadataValue.json(result.flagged_rows),
    }
