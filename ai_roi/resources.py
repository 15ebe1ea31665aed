"""Shared clients. Every path and secret comes from configuration or, left empty, from the
environment when the resource is used (see ai_roi.settings), never frozen at import."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from ai_roi import settings
from ai_roi.lib import run_lock, runs
from ai_roi.ml.tracking import use_store
from ai_roi.params import Params, load_params
from ai_roi.sources import SourceCatalog, load_catalog


class SourceCatalogResource(dg.ConfigurableResource):
    """The source catalogue file: paths, formats and column mappings of every source."""

    path: str = ""

    def load(self) -> SourceCatalog:
        return load_catalog(Path(self.path) if self.path else settings.sources_path())


class PrivacyResource(dg.ConfigurableResource):
    """Secret used to pseudonymise personal identifiers before they leave the raw layer."""

    pseudonym_key: str = ""

    @property
    def key(self) -> str:
        return self.pseudonym_key or settings.pseudonym_key()


class ParamsResource(dg.ConfigurableResource):
    """params.yaml: hyper-parameters and promotion bars of the AI use cases."""

    path: str = ""

    def load(self) -> Params:
        return load_params(Path(self.path) if self.path else settings.params_path())


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry (local sqlite and folder by default)."""

    tracking_uri: str = ""
    artifact_root: str = ""

    def experiment(self, name: str) -> str:
        """Point MLflow at this store; the id of experiment `name`, created if new."""
        return use_store(
            self.tracking_uri or settings.mlflow_tracking_uri(),
            self.artifact_root or settings.mlflow_artifacts(),
            name,
        )


class OutputsResource(dg.ConfigurableResource):
    """Folder holding what DVC versions: data extracts, champion models and metrics."""

    root: str = ""

    def path(self, *parts: str) -> Path:
        target = Path(self.root or settings.output_dir(), *parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


class MartsExportResource(dg.ConfigurableResource):
    """The consumers' copy of the marts: a separate DuckDB file holding the `marts` schema only.

    Readers open it read-only, so a report or a BI tool can neither change the warehouse nor see
    its raw, staged or quarantine layers.
    """

    path: str = ""

    @property
    def location(self) -> Path:
        return Path(self.path) if self.path else settings.export_path()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The marts as their consumers read them: the export file, or on a PostgreSQL warehouse
        its marts schema (which the consumers' role alone may read there)."""
        if settings.warehouse_engine() == "postgres":
            from ai_roi.lib import postgres

            with postgres.connect() as pg:
                yield pg
            return
        if not self.location.exists():
            raise FileNotFoundError(
                f"no marts export at {self.location}: materialise exports/marts first"
            )
        conn = duckdb.connect(str(self.location), read_only=True)
        try:
            yield conn
        finally:
            conn.close()


class MartsServerResource(dg.ConfigurableResource):
    """The PostgreSQL server the marts are published to for BI tools (settings.marts_server);
    none unless configured. Connects with libpq's PG* variables, never with values in code."""

    server: str = ""
    reader_role: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.server or settings.marts_server())

    @property
    def reader(self) -> str | None:
        return self.reader_role or settings.pg_reader_role()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg  # only a deployment that publishes to a server needs the driver loaded

        try:
            conn = psycopg.connect()
        except psycopg.Error as error:
            where = f"{os.environ.get('PGHOST', 'localhost')}:{os.environ.get('PGPORT', '5432')}"
            raise dg.Failure(
                allow_retries=False,
                description=f"cannot connect to the marts server at {where} "
                f"({str(error).strip().splitlines()[0]}): check PGHOST, PGPORT, PGUSER, "
                "PGPASSWORD and PGDATABASE, or unset AI_ROI_MARTS_SERVER to write the export "
                "file only. Nothing was published.",
            ) from None
        with conn:
            yield conn


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse; closes its connection when a step fails too.

    DuckDBResource leaves the connection open when the code using it raises, and DuckDB allows one
    writer per file, so a failed step would lock the warehouse for the rest of the process.
    """

    database: str = ""
    # where the warehouse is: "duckdb" (the file) or "postgres" (the database libpq's PG*
    # variables name); empty, AI_ROI_WAREHOUSE says (settings.warehouse_engine), read when a
    # step connects
    engine: str = ""
    _lock: Any = PrivateAttr(default=None)

    @property
    def location(self) -> Path:
        return Path(self.database) if self.database else settings.duckdb_path()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run holds the warehouse's run lock (lib/run_lock.py) from its first step to its end.

        `ai-roi run` holds it already for its whole invocation; a run launched from the UI, a
        sensor or a schedule takes it here, and fails at once, naming the running one, when
        another run has it. The run says which process runs it, and runs whose process is gone
        are marked failed (lib/runs.py).
        """
        run_id = context.run_id
        if not run_id or context.instance is None:
            return
        if not run_lock.held_here(self.location):
            try:
                self._lock = run_lock.acquire(self.location, "Dagster run", run_id)
            except run_lock.WarehouseBusy as busy:
                raise dg.Failure(description=str(busy), allow_retries=False) from None
        context.instance.add_run_tags(run_id, {runs.PID_TAG: str(os.getpid())})
        runs.fail_dead_runs(context.instance)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            run_lock.release(self.location, self._lock)
            self._lock = None

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if settings.warehouse_engine(self.engine) == "postgres":
            from ai_roi.lib import postgres

            with postgres.connect() as pg:  # libpq reads PGHOST, PGPORT, PGUSER, …
                yield pg
            return
        config = {"custom_user_agent": "dagster", **settings.duckdb_config()}
        config.update(self.connection_config)
        self.location.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(database=str(self.location), read_only=False, config=config)
        try:
            yield conn
        finally:
            conn.close()


def duckdb_resource() -> DuckDBResource:
    return WarehouseResource()
