"""dbt models as Dagster assets and dbt tests as asset checks."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from dagster_project.defs.marts.project import dbt_project


class Translator(DagsterDbtTranslator):
    """Adds the data classification declared in dbt `meta` as a Dagster tag."""

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        classification = dbt_resource_props.get("meta", {}).get("classification")
        if classification:
            tags["classification"] = classification
        tags["domain"] = "analytics"
        return tags


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Translator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """dbt staging views and KPI marts built in DuckDB; dbt tests run as asset checks."""
    yield from dbt.cli(["build"], context=context).stream()
