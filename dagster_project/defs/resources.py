"""Shared clients. Every path and secret comes from the environment (see dagster_project.settings)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.ml.tracking import use_store
from dagster_project.params import Params, load_params
from dagster_project.sources import SourceCatalog, load_catalog


class SourceCatalogResource(dg.ConfigurableResource):
    """The source catalogue file: paths, formats and column mappings of every source."""

    path: str

    def load(self) -> SourceCatalog:
        return load_catalog(Path(self.path))


class PrivacyResource(dg.ConfigurableResource):
    """Secret used to pseudonymise personal identifiers before they leave the raw layer."""

    pseudonym_key: str


class ParamsResource(dg.ConfigurableResource):
    """params.yaml: hyper-parameters and promotion bars of the AI use cases."""

    path: str

    def load(self) -> Params:
        return load_params(Path(self.path))


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry (local sqlite and folder by default)."""

    tracking_uri: str
    artifact_root: str

    def experiment(self, name: str) -> str:
        """Point MLflow at this store; the id of experiment `name`, created if new."""
        return use_store(self.tracking_uri, self.artifact_root, name)


class OutputsResource(dg.ConfigurableResource):
    """Folder holding what DVC versions: data extracts, champion models and metrics."""

    root: str

    def path(self, *parts: str) -> Path:
        target = Path(self.root, *parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


class MartsExportResource(dg.ConfigurableResource):
    """The consumers' copy of the marts: a separate DuckDB file holding the `marts` schema only.

    Readers open it read-only, so a report or a BI tool can neither change the warehouse nor see
    its raw, staged or quarantine layers.
    """

    path: str

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if not Path(self.path).exists():
            raise FileNotFoundError(
                f"no marts export at {self.path}: materialise exports/marts first"
            )
        conn = duckdb.connect(self.path, read_only=True)
        try:
            yield conn
        finally:
            conn.close()


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse; closes its connection when a step fails too.

    DuckDBResource leaves the connection open when the code using it raises, and DuckDB allows one
    writer per file, so a failed step would lock the warehouse for the rest of the process.
    """

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        config = {"custom_user_agent": "dagster", **self.connection_config}
        conn = duckdb.connect(database=self.database, read_only=False, config=config)
        try:
            yield conn
        finally:
            conn.close()


def duckdb_resource() -> DuckDBResource:
    return WarehouseResource(database=dg.EnvVar("AI_ROI_DUCKDB_PATH"))


def build_resources() -> dict[str, dg.ConfigurableResource]:
    from dagster_project.defs.marts.project import dbt_resource

    return {
        "duckdb": duckdb_resource(),
        "catalog": SourceCatalogResource(path=dg.EnvVar("AI_ROI_SOURCES")),
        "privacy": PrivacyResource(pseudonym_key=dg.EnvVar("AI_ROI_PSEUDONYM_KEY")),
        "dbt": dbt_resource(),
        "params": ParamsResource(path=dg.EnvVar("AI_ROI_PARAMS")),
        "mlflow_store": MlflowResource(
            tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
            artifact_root=dg.EnvVar("AI_ROI_MLFLOW_ARTIFACTS"),
        ),
        "outputs": OutputsResource(root=dg.EnvVar("AI_ROI_OUTPUT_DIR")),
        "marts_export": MartsExportResource(path=dg.EnvVar("AI_ROI_EXPORT_PATH")),
    }
