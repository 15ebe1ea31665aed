"""dbt models as Dagster assets and dbt tests as asset checks, each test with its quality dimension."""

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_duckdb import DuckDBResource

from dagster_project.defs.marts.project import dbt_project
from dagster_project.lib.history import CheckRecord, record
from dagster_project.lib.quality import DIMENSIONS

# Dimension of each kind of dbt test; a test can name its own with `config: {meta: {dimension: …}}`.
TEST_DIMENSIONS = {
    "unique": "uniqueness",
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


def _history(results: list[dg.AssetCheckResult], row_counts: dict[str, int]) -> list[CheckRecord]:
    nodes = {n["name"]: n for n in _manifest()["nodes"].values() if n["resource_type"] == "test"}
    records = []
    for result in results:
        node = nodes[result.check_name]
        meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
        records.append(
            CheckRecord(
                asset_key=result.asset_key.to_user_string(),
                check_name=result.check_name,
                dimension=test_dimension(node),
                check_kind="dbt",
                passed=result.passed,
                severity=result.severity.value,
                rows_checked=row_counts.get(node.get("attached_node") or ""),
                rows_failed=meta.get("dagster_dbt/failed_row_count"),
                columns=test_columns(node),
                observed={"status": meta.get("status")},
            )
        )
    return records


def _row_counts(con, model_ids: set[str]) -> dict[str, int]:
    counts = {}
    for unique_id in model_ids:
        relation = _manifest()["nodes"].get(unique_id, {}).get("relation_name")
        if relation:
            counts[unique_id] = con.execute(f"select count(*) from {relation}").fetchone()[0]
    return counts


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Translator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
    """dbt staging views and KPI marts built in DuckDB; dbt tests run as asset checks."""
    results: list[dg.AssetCheckResult] = []
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, dg.AssetCheckResult):
            results.append(event)
        yield event
    # dbt has finished and released the DuckDB file: record its tests in the quality history
    nodes = _manifest()["nodes"]
    tested = {nodes[n]["attached_node"] for n in nodes if nodes[n]["resource_type"] == "test"}
    with duckdb.get_connection() as con:
        records = _history(results, _row_counts(con, {t for t in tested if t}))
        record(con, context.run.run_id, records)
