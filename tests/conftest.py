"""Shared fixtures: a temporary warehouse and a source catalogue pointing at test files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from dagster_project import settings
from scripts.ci_config import (  # noqa: F401  (re-exported for the tests)
    FIXTURE_FILES,
    FIXTURE_PARAMS,
    FIXTURES,
    PRODUCT_CATALOG,
    PRODUCT_PARAMS,
    ROOT,
    catalog_dict,
    params_dict,
)
from tests.user_state import changes, fingerprint

# Every variable that points the product at a place; the suite starts from none of them.
LOCATION_VARIABLES = (
    "AI_ROI_STATE_DIR",
    "AI_ROI_DUCKDB_PATH",
    "AI_ROI_EXPORT_PATH",
    "AI_ROI_SOURCES",
    "AI_ROI_PARAMS",
    "AI_ROI_OUTPUT_DIR",
    "AI_ROI_MLFLOW_ARTIFACTS",
    "AI_ROI_PSEUDONYM_KEY",
    "AI_ROI_PSEUDONYM_KEY_FILE",
    "DAGSTER_HOME",
    "MLFLOW_TRACKING_URI",
)


@pytest.fixture(scope="session", autouse=True)
def user_state_untouched(tmp_path_factory):
    """Point every location at a session folder, and fail if the user's own state changed.

    `make test` runs with the Makefile's AI_ROI_STATE_DIR and DAGSTER_HOME (the user's); the suite
    replaces them, so a test that forgets to set a location writes into tmp, never into state/.
    """
    before = fingerprint(ROOT)
    session = tmp_path_factory.mktemp("session")
    with pytest.MonkeyPatch.context() as mp:
        for name in LOCATION_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("AI_ROI_STATE_DIR", str(session / "state"))
        mp.setenv("AI_ROI_OUTPUT_DIR", str(session / "outputs"))
        yield
    changed = changes(before, fingerprint(ROOT))
    if changed:
        pytest.fail(
            "the test suite changed the user's state (tests must write only below tmp): "
            + "; ".join(changed[:20]),
            pytrace=False,
        )


@dataclass
class Warehouse:
    """A temporary DuckDB file and catalogue that the pipeline's resources pick up."""

    root: Path
    db_path: Path
    catalog_path: Path
    monkeypatch: pytest.MonkeyPatch

    def write_catalog(self, files: dict | None = None, **overrides: dict) -> Path:
        self.catalog_path.write_text(
            yaml.safe_dump(catalog_dict(files, **overrides)), encoding="utf-8"
        )
        return self.catalog_path

    def write_params(self, **changes: dict) -> Path:
        path = self.root / "params.yaml"
        path.write_text(yaml.safe_dump(params_dict(**changes)), encoding="utf-8")
        return path

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db_path), read_only=True)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, params or {}).fetchall()

    def scalar(self, sql: str, params: dict | None = None):
        return self.query(sql, params)[0][0]


def make_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    wh = Warehouse(tmp_path, tmp_path / "warehouse.duckdb", tmp_path / "sources.yaml", monkeypatch)
    monkeypatch.setenv("AI_ROI_DUCKDB_PATH", str(wh.db_path))
    monkeypatch.setenv("AI_ROI_SOURCES", str(wh.catalog_path))
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("AI_ROI_PARAMS", str(tmp_path / "params.yaml"))
    monkeypatch.setenv("AI_ROI_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("AI_ROI_MLFLOW_ARTIFACTS", str(tmp_path / "mlflow" / "artifacts"))
    # a Dagster instance of the warehouse's own: guards read the check history of earlier runs
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings.ensure_dagster_home()
    wh.write_catalog()
    wh.write_params()
    return wh


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    return make_warehouse(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The whole pipeline built once on the fixtures, shared by a module's read-only tests."""
    with pytest.MonkeyPatch.context() as mp:
        wh = make_warehouse(tmp_path_factory.mktemp("built"), mp)
        result = run_pipeline()
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        yield wh, result


def run_pipeline(selection: str | None = None, **options) -> dg.ExecuteInProcessResult:
    """Materialise (a selection of) the real definitions in-process, as `ai-roi run` does.

    Runs go to the instance at DAGSTER_HOME (the warehouse fixture's own), so later runs see the
    check history of earlier ones, as they do for a user.
    """
    from dagster_project.cli import selected_keys
    from dagster_project.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    keys = selected_keys(defs.resolve_asset_graph(), selection) if selection else None
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance, asset_selection=keys, raise_on_error=False, **options
        )


@pytest.fixture
def pipeline() -> Callable[..., dg.ExecuteInProcessResult]:
    return run_pipeline


def materialization_metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    """Metadata values of the asset's materialisation in `result`."""
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    assert events, f"{key} was not materialised"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


__all__ = [
    "settings",
    "ROOT",
    "FIXTURES",
    "materialization_metadata",
    "check_evaluations",
    "run_pipeline",
]
