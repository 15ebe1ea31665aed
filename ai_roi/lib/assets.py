"""Bodies shared by the raw and staged assets of every source."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.lib import freshness
from ai_roi.lib.checks import Audit, blocking_failures
from ai_roi.lib.rules import RuleBook
from ai_roi.lib.staging import (
    StageResult,
    StagingRefused,
    prepare_staging,
    publish_staging,
    refuse,
    work_tables,
)
from ai_roi.lib.warehouse import IngestError, LoadResult, load_source
from ai_roi.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from ai_roi.sources import SourceConfig


@dataclass(frozen=True)
class StagingResources:
    """What a staged asset's audit reads besides the warehouse."""

    catalog: SourceCatalogResource
    params: ParamsResource
    outputs: OutputsResource
    privacy: PrivacyResource


def ingest_raw(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, source: str, config: SourceConfig
) -> dg.MaterializeResult:
    """Load the source's new files as deliveries (see lib.warehouse) and describe the load."""
    try:
        with duckdb.get_connection() as con:
            result: LoadResult = load_source(con, source, config, context.run.run_id)
            # the data version Dagster compares to tell what is stale: the deliveries in play,
            # so a run with no new file leaves everything downstream up to date
            version = freshness.current_versions(con).get(source)
    except IngestError as error:  # a clear message, not a traceback: the file is the problem
        raise dg.Failure(description=str(error), allow_retries=False) from None
    if result.reused:
        context.log.info(f"{source}: no new file since load {result.load_id}; nothing loaded")
    for d in result.deliveries:
        if d["new"]:
            context.log.info(f"{source}: new delivery {d['load_id']} ({d['rows']:,} rows)")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version) if version else None,
        metadata={
            "dagster/row_count": result.rows,
            "load_id": result.load_id,
            "reused_previous_load": result.reused,
            "files": dg.MetadataValue.json(result.files),
            "deliveries": dg.MetadataValue.json(result.deliveries),
            "file_columns": dg.MetadataValue.json(result.file_columns),
            "column_mapping": dg.MetadataValue.json(config.columns),
        },
    )


def run_staging(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    *,
    source: str,
    config: SourceConfig,
    rulebook: RuleBook,
    audit: Audit,
    resources: StagingResources,
    flags: tuple[str, ...] = (),
) -> Generator[dg.AssetCheckResult, None, tuple[StageResult, list[dg.AssetCheckResult]]]:
    """Stage the source's deliveries in play: write a candidate, audit it, then publish it.

    Returns what was published and the audit's results (the staged asset's own checks), which
    the asset yields after its materialisation: they judge the data it published. When a
    blocking check fails on the candidate, they are yielded here, nothing is published, and the
    new deliveries are marked refused with the failed checks as their reason (lib.staging).
    """
    try:
        with duckdb.get_connection() as con, work_tables(con, source):
            candidate = prepare_staging(
                con,
                source=source,
                rulebook=rulebook,
                config=config,
                pseudonym_key=resources.privacy.key,
                now=datetime.now(),
            )
            results = audit.run(
                context,
                con,
                table=candidate.table,
                held=candidate.held,
                catalog=resources.catalog,
                params=resources.params,
                outputs=resources.outputs,
                privacy_key=resources.privacy.key,
            )
            # every check decides; a run that left some out of its selection is not shown them
            selected = context.selected_asset_check_keys
            shown = [r for r in results if _check_key(r) in selected]
            failed = blocking_failures(results)
            if failed:  # the results judge the candidate: not the published table's data
                yield from shown
                _refuse_audited(con, source, candidate.pending, failed)
            return publish_staging(con, candidate, run_id=context.run.run_id, flags=flags), shown
    except StagingRefused as refused:
        raise dg.Failure(description=str(refused), allow_retries=False) from None


def _check_key(result: dg.AssetCheckResult) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(result.asset_key, result.check_name)


def _refuse_audited(con, source: str, pending: tuple[str, ...], failed) -> None:
    def why(result: dg.AssetCheckResult) -> str:
        meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
        return f"{result.check_name} ({result.description or meta.get('failed_rules', 'failed')})"

    reason = "blocking check(s) failed on the staged candidate: " + "; ".join(map(why, failed))
    if pending:  # marks them refused and raises
        refuse(con, source, dict.fromkeys(pending, reason))
    raise StagingRefused(
        f"{source}: {reason}. No new delivery is in play: the staged table was rebuilt from the "
        "accepted ones under today's rules and checks, and not published; it keeps what it held."
    )


def staged_version(duckdb: DuckDBResource, source: str) -> dg.DataVersion | None:
    """The data version of a staged table: the accepted deliveries it holds (lib.freshness)."""
    with duckdb.get_connection() as con:
        version = freshness.staged_versions(con, [source]).get(source)
    return dg.DataVersion(version) if version else None


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
