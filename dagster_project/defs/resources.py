"""Shared clients. Every path and secret comes from the environment (see dagster_project.settings)."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project import settings
from dagster_project.sources import SourceCatalog, load_catalog


class SourceCatalogResource(dg.ConfigurableResource):
    """The source catalogue file: paths, formats and column mappings of every source."""

    path: str

    def load(self) -> SourceCatalog:
        return load_catalog(Path(self.path))


class PrivacyResource(dg.ConfigurableResource):
    """Secret used to pseudonymise personal identifiers before they leave the raw layer."""

    pseudonym_key: str

    @property
    def is_development_key(self) -> bool:
        return self.pseudonym_key == settings.DEV_PSEUDONYM_KEY


def duckdb_resource() -> DuckDBResource:
    return DuckDBResource(database=dg.EnvVar("AI_ROI_DUCKDB_PATH"))


def build_resources() -> dict[str, dg.ConfigurableResource]:
    from dagster_project.defs.marts.project import dbt_resource

    return {
        "duckdb": duckdb_resource(),
        "catalog": SourceCatalogResource(path=dg.EnvVar("AI_ROI_SOURCES")),
        "privacy": PrivacyResource(pseudonym_key=dg.EnvVar("AI_ROI_PSEUDONYM_KEY")),
        "dbt": dbt_resource(),
    }
