"""dbt models as Dagster assets and dbt tests as asset checks, each test with its quality dimension."""

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_duckdb import DuckDBResource

from ai_roi.defs.marts.project import dbt_project
from ai_roi.lib import dbt_in_process, month_builds, partitions
from ai_roi.lib.history import CheckRecord, record
from ai_roi.lib.ml_assets import FULL_REFRESH_TAG
from ai_roi.lib.retention import keep_newest
from ai_roi.lib.rules import DIMENSIONS
from ai_roi.lib.warehouse import has_relation, quote_ident
from ai_roi.resources import ParamsResource

# Dimension of each kind of dbt test; a test can name its own with `config: {meta: {dimension: …}}`.
TEST_DIMENSIONS = {
    "unique": "uniqueness",
    "unique_combination": "uniqueness",
    "not_null": "completeness",
    "at_least_rows": "completeness",
    "relationships": "consistency",
    "accepted_values": "consistency",
    "expression_is_true": "accuracy",
}


def test_dimension(node: Mapping[str, Any]) -> str:
    """Quality dimension of a dbt test node: its own meta, else the default of its kind."""
    meta = {**node.get("meta", {}), **node.get("config", {}).get("meta", {})}
    kind = (node.get("test_metadata") or {}).get("name")
    dimension = meta.get("dimension") or TEST_DIMENSIONS.get(kind)
    if dimension not in DIMENSIONS:
        raise ValueError(
            f"dbt test {node['name']}: give it a quality dimension with "
            f"`config: {{meta: {{dimension: …}}}}`, one of {DIMENSIONS}"
        )
    return dimension


def test_columns(node: Mapping[str, Any]) -> list[str]:
    column = node.get("column_name") or (node.get("test_metadata") or {}).get("kwargs", {}).get(
        "column_name"
    )
    return [column] if column else []


@cache
def _manifest() -> dict:
    return json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))


def mart_keys(*, roi: bool) -> list[dg.AssetKey]:
    """Asset keys of the dbt models in the `marts` schema: the ROI ones or the others."""
    return sorted(
        (
            dg.AssetKey(["marts", node["name"]])
            for node in _manifest()["nodes"].values()
            if node["resource_type"] == "model"
            and node["schema"] == "marts"
            and ("roi" in node.get("tags", [])) == roi
        ),
        key=lambda k: k.path,
    )


class Translator(DagsterDbtTranslator):
    """Classification from dbt `meta` as a tag; every test check carries its quality dimension."""

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        classification = dbt_resource_props.get("meta", {}).get("classification")
        if classification:
            tags["classification"] = classification
        tags["domain"] = "analytics"
        return tags

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        node = manifest["nodes"][unique_id]
        return spec.with_metadata(
            {**spec.metadata, "dimension": test_dimension(node), "columns": test_columns(node)}
        )


def _row_count(con, node: dict) -> int | None:
    """Rows of a model (a manifest node), or None where dbt skipped building it. Named by its
    schema and name in the warehouse: the manifest's `relation_name` carries the database of
    the target it was parsed for."""
    schema, name = node["schema"], node.get("alias") or node["name"]
    if not has_relation(con, schema, name):
        return None
    return con.execute(
        f"select count(*) from {quote_ident(schema)}.{quote_ident(name)}"
    ).fetchone()[0]


def _history(con, results: list[dg.AssetCheckResult]) -> list[CheckRecord]:
    """History rows of this invocation's dbt tests; rows checked = rows of the tested model."""
    nodes = _manifest()["nodes"]
    tests = {n["name"]: n for n in nodes.values() if n["resource_type"] == "test"}
    row_counts: dict[str, int] = {}
    records = []
    for result in results:
        node = tests[result.check_name]
        model = node.get("attached_node")
        if model and model not in row_counts:  # only models this invocation tested
            row_counts[model] = _row_count(con, nodes[model])
        meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
        records.append(
            CheckRecord(
                asset_key=result.asset_key.to_user_string(),
                check_name=result.check_name,
                dimension=test_dimension(node),
                check_kind="dbt",
                passed=result.passed,
                severity=result.severity.value,
                rows_checked=row_counts.get(model),
                rows_failed=meta.get("dagster_dbt/failed_row_count"),
                columns=test_columns(node),
                observed={"status": meta.get("status")},
            )
        )
    return records


TRANSLATOR = Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@contextlib.contextmanager
def _dbt_environment(env: Mapping[str, str]) -> Iterator[None]:
    """The month window's variables set to `env` (absent when it has none) while dbt starts.

    dagster-dbt hands the subprocess a copy of this process's environment when it starts it; a
    window left in the user's shell must not narrow a full build, so absent means removed.
    """
    names = (partitions.WINDOW_FROM_ENV, partitions.WINDOW_TO_ENV)
    kept = {name: value for name, value in os.environ.items() if name not in names}
    with dbt_in_process.environment({**kept, **{n: env[n] for n in names if n in env}}):
        yield


def _keep_partial_parse(target_path: Path) -> None:
    """Make this invocation's parse the one the next starts from.

    dagster-dbt starts each invocation from `target/partial_parse.msgpack`, written by `make
    setup`'s `dbt parse`; where the profile differs (another state folder) every invocation
    would parse the whole project again.
    """
    parsed = target_path / "partial_parse.msgpack"
    if not parsed.exists():
        return
    shared = target_path.parent / parsed.name
    tmp = shared.with_name(f".{parsed.name}.{os.getpid()}")
    shutil.copyfile(parsed, tmp)
    tmp.replace(shared)


def build_and_record(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    params: ParamsResource,
    args: tuple[str, ...] = ("build",),
    env: Mapping[str, str] | None = None,
):
    """`dbt build` the selected models, yield their events, then record the tests in the history.

    Each invocation writes its own target folder; the newest `retention.dbt_target_runs` of this
    asset's are kept, older ones deleted.
    """
    results: list[dg.AssetCheckResult] = []
    with _dbt_environment(env or {}):
        invocation = dbt.cli(list(args), context=context)
    for event in invocation.stream():
        if isinstance(event, dg.AssetCheckResult):
            results.append(event)
        yield event
    _keep_partial_parse(invocation.target_path)
    # dbt has finished and released the DuckDB file: record its tests in the quality history
    with duckdb.get_connection() as con:
        record(con, context.run.run_id, _history(con, results))
    removed = keep_newest(
        invocation.target_path.parent,
        f"{context.op_execution_context.op.name}-",
        params.load().retention.dbt_target_runs,
    )
    if removed:
        context.log.info(f"deleted {len(removed)} old dbt target folder(s) (retention)")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude="tag:roi tag:monthly",
    dagster_dbt_translator=TRANSLATOR,
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    params: ParamsResource,
):
    """dbt staging views and KPI marts built in DuckDB; dbt tests run as asset checks."""
    yield from build_and_record(context, dbt, duckdb, params)


# The monthly facts, the staged table each projects row by row, and the column dating a row.
PERIOD_MARTS = (
    month_builds.PeriodMart("marts.fct_order_lines", "staged.order_lines", "invoiced_at"),
    month_builds.PeriodMart("marts.fct_support_tickets", "staged.tickets", "opened_at"),
)


def period_marts(keys: Iterable[dg.AssetKey]) -> list[month_builds.PeriodMart]:
    """The monthly facts among `keys`: a run may select one (a UI user picking one asset).

    Only their months are judged and recorded; a fact left out keeps its record, so the next
    run that builds it still sees what changed in its staged rows.
    """
    keys = set(keys)
    return [m for m in PERIOD_MARTS if dg.AssetKey(m.table.split(".")) in keys]


def dbt_code() -> str:
    """The dbt project's digest a month's build is recorded with (lib/month_builds.py)."""
    return month_builds.code_digest(Path(dbt_project.project_dir))


def _months_to_build(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    code: str,
    marts: list[month_builds.PeriodMart],
) -> tuple[tuple[str, str] | None, str]:
    """(the window of months this run rewrites, None for all of them; why).

    A backfill names its months. A run of every month rewrites the months whose staged rows
    changed since the last build (lib/month_builds.py); `--full-refresh` rewrites all.
    """
    span = partitions.named_months(context)
    if span is not None:
        return span, f"months {span[0]} to {span[1]} (exclusive) as the run named them"
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        return None, "--full-refresh"
    with duckdb.get_connection() as con:
        return month_builds.changed_window(con, marts, code)


def monthly_models(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The period marts (dbt tag `monthly`), one partition per month.

    A run rewrites the rows of some months (dbt/macros/month_window.sql) and rebuilds what the
    facts feed (dimensions, weekly aggregates): the months a backfill names, or in a run of
    every month those whose staged rows changed; a first build, a change of the dbt project or
    `--full-refresh` rebuilds the tables (`--full-refresh`). A backfill of a range of months
    from the UI is one run, one dbt invocation.
    """

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select="tag:monthly",
        dagster_dbt_translator=TRANSLATOR,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def monthly_marts(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        duckdb: DuckDBResource,
        params: ParamsResource,
    ):
        """Order lines and support tickets by month, built in DuckDB; dbt tests as asset checks."""
        code = dbt_code()
        marts = period_marts(context.selected_asset_keys)
        span, why = _months_to_build(context, duckdb, code, marts)
        context.log.info(
            f"rebuilding every month: {why}"
            if span is None
            else f"rewriting months {span[0]} to {span[1]} (exclusive): {why}"
        )
        if span is None:
            args: tuple[str, ...] = ("build", "--full-refresh")
            env = {}
        else:
            args = ("build",)
            env = {partitions.WINDOW_FROM_ENV: span[0], partitions.WINDOW_TO_ENV: span[1]}
        yield from build_and_record(context, dbt, duckdb, params, args, env)
        with duckdb.get_connection() as con:
            month_builds.record(con, marts, span, code, context.run.run_id)

    return monthly_marts
