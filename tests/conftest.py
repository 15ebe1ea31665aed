"""Shared fixtures: a temporary warehouse and a source catalogue pointing at test files."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.debug import DebugRunPayload  # registers it with serdes: loaded templates
from dagster_shared.serdes import deserialize_value, serialize_value

from ai_roi import settings
from ai_roi.settings import USER_STATE_FOLDERS
from scripts import local_postgres
from scripts.ci_config import (  # noqa: F401  (re-exported for the tests)
    FIXTURE_FILES,
    FIXTURES,
    PRODUCT_CATALOG,
    PRODUCT_PARAMS,
    ROOT,
    catalog_dict,
    params_dict,
)
from tests.user_state import changes, fingerprint

# Why the tests lower the forecaster's promotion bars: the tests of training, registration,
# promotion, export and the ROI need a champion, and on 1.5 % of the invoices the forecaster
# neither clears the product's bars against the naive baselines nor its bias bound (it
# under-forecasts the sparse weeks by about 90 %). The router keeps the product's bars: it clears
# them on the fixtures. The product's own bars are held by `make ci`, which runs the pipeline on
# the embedded data with params.yaml as it is, and test_cli shows them refusing the forecaster
# trained on the fixtures.
SMALL_SAMPLE_BARS = {
    "forecast": {
        "gate": {
            "max_wape_ratio_to_naive": 1.5,
            "max_wape_ratio_to_seasonal_naive": 1.5,
            "max_abs_bias": 1.0,
        }
    },
}

# The user's folders, and where MLflow writes when a store is made without a place of its own
# (a new store's default artifact root is ./mlruns, or ./mlartifacts behind a server)
WATCHED = (*USER_STATE_FOLDERS, "mlruns", "mlartifacts")

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
    "DBT_TARGET_PATH",
)


@pytest.fixture(scope="session", autouse=True)
def user_state_untouched(tmp_path_factory):
    """Point every location at a session folder, and fail if the user's own state changed.

    `make test` runs with the Makefile's AI_ROI_STATE_DIR and DAGSTER_HOME (the user's); the suite
    replaces them, so a test that forgets to set a location writes into tmp, never into state/.
    """
    before = fingerprint(ROOT, WATCHED)
    session = tmp_path_factory.mktemp("session")
    with pytest.MonkeyPatch.context() as mp:
        for name in LOCATION_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("AI_ROI_STATE_DIR", str(session / "state"))
        mp.setenv("AI_ROI_OUTPUT_DIR", str(session / "outputs"))
        mp.setenv("DAGSTER_HOME", str(session / "dagster_home"))
        # dbt's target folders (one per invocation, retention per asset): the suite's own
        mp.setenv("DBT_TARGET_PATH", str(session / "dbt_target"))
        yield
    changed = changes(before, fingerprint(ROOT, WATCHED))
    if changed:
        pytest.fail(
            "the test suite changed the user's state (tests must write only below tmp): "
            + "; ".join(changed[:20]),
            pytrace=False,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files marked `long` first: `make test` hands whole files to its workers in this order
    (--dist loadfile), so no worker is left with a long file once the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


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

    def write_params(self, product_bars: bool = False, **changes: dict) -> Path:
        """params.yaml sized for the fixtures; the small-sample bars unless `product_bars`."""
        path = self.root / "params.yaml"
        layers = () if product_bars else (SMALL_SAMPLE_BARS,)
        path.write_text(yaml.safe_dump(params_dict(*layers, **changes)), encoding="utf-8")
        return path

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db_path), read_only=True)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, params or {}).fetchall()

    def scalar(self, sql: str, params: dict | None = None):
        return self.query(sql, params)[0][0]


def point_at(root: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """Point every location of the pipeline at `root` (the warehouse, its catalogue, its state)."""
    wh = Warehouse(root, root / "warehouse.duckdb", root / "sources.yaml", monkeypatch)
    monkeypatch.setenv("AI_ROI_DUCKDB_PATH", str(wh.db_path))
    monkeypatch.setenv("AI_ROI_SOURCES", str(wh.catalog_path))
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(root))
    monkeypatch.setenv("AI_ROI_PARAMS", str(root / "params.yaml"))
    monkeypatch.setenv("AI_ROI_OUTPUT_DIR", str(root / "outputs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("AI_ROI_MLFLOW_ARTIFACTS", str(root / "mlflow" / "artifacts"))
    # a Dagster instance of the warehouse's own: guards read the check history of earlier runs
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    # dbt's target folders of this warehouse's runs: test files run side by side (make test), and
    # a test of the retention of target folders counts only its own
    monkeypatch.setenv("DBT_TARGET_PATH", str(root / "dbt_target"))
    settings.ensure_dagster_home()
    return wh


def make_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """An empty warehouse, with the fixtures' catalogue and the small-sample params."""
    wh = point_at(tmp_path, monkeypatch)
    wh.write_catalog()
    wh.write_params()
    return wh


@dataclass
class Template:
    """The whole pipeline built once per test process on the fixtures; tests work on copies."""

    root: Path
    result: dg.ExecuteInProcessResult
    runs: list  # the runs of its Dagster instance, oldest first, with their events

    def copy_to(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
        """A warehouse at `root` in the state the build left: its DuckDB file, MLflow store and
        artifacts, outputs, dbt target folders and secrets, and a Dagster instance holding the
        build's runs and events (the check history the guards read), as if it had run there."""
        shutil.copytree(
            self.root, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(TEMPLATE_RUNS)
        )
        _move_mlflow_store(root / "mlflow" / "mlflow.db", self.root, root)
        wh = point_at(root, monkeypatch)
        _INSTANCES[os.environ["DAGSTER_HOME"]] = dg.DagsterInstance.ephemeral(preload=self.runs)
        return wh


def _move_mlflow_store(db: Path, old: Path, new: Path) -> None:
    """MLflow stores absolute artifact locations; point the copied store at the copied artifacts."""
    with closing(sqlite3.connect(db)) as con, con:
        for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
            for column in con.execute(f"pragma table_info('{table}')").fetchall():
                if any(t in column[2].upper() for t in ("CHAR", "TEXT")):
                    con.execute(
                        f'update "{table}" set "{column[1]}" = replace("{column[1]}", ?, ?)'
                        f' where instr("{column[1]}", ?) > 0',
                        [str(old), str(new), str(old)],
                    )


@pytest.fixture(scope="session")
def template(user_state_untouched, tmp_path_factory, worker_id) -> Template:
    """The whole pipeline built on the fixtures once per test session.

    Under `make test` (pytest-xdist) the first worker that needs it builds it in a folder all
    workers share; the others wait for it and load it: one build instead of one per worker, each
    slowed by the others.
    """
    if worker_id == "master":  # not under xdist: this process is the session
        return _build_template(tmp_path_factory.mktemp("template"))
    shared = tmp_path_factory.getbasetemp().parent / "template"
    with open(shared.with_name("template.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        saved = shared / TEMPLATE_RUNS
        if not saved.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a build that failed half-way
            built = _build_template(shared)
            tmp = saved.with_name(f".{saved.name}")
            tmp.write_text(
                serialize_value([built.result.dagster_run, built.result.all_events, built.runs]),
                encoding="utf-8",
            )
            tmp.replace(saved)  # last: it marks the build complete
            return built
    from ai_roi.definitions import defs

    run, events, runs = deserialize_value(saved.read_text(encoding="utf-8"))
    job = defs.resolve_implicit_global_asset_job_def()
    result = dg.ExecuteInProcessResult(
        event_list=events, dagster_run=run, output_capture=None, job_def=job
    )
    return Template(shared, result, runs)


# What a shared template's build leaves beside its files: its run, the run's events and the runs
# of its Dagster instance (written last, so its presence says the build finished).
TEMPLATE_RUNS = "template_runs.json"


def _build_template(root: Path) -> Template:
    with pytest.MonkeyPatch.context() as mp:
        wh = make_warehouse(root, mp)
        result = run_pipeline()
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        instance = dagster_instance()
        runs = [DebugRunPayload.build(instance, run) for run in reversed(instance.get_runs())]
    return Template(wh.root, result, runs)


@pytest.fixture(scope="module")
def built(template, tmp_path_factory):
    """A copy of the whole pipeline built on the fixtures, shared by a module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        yield template.copy_to(tmp_path_factory.mktemp("built"), mp), template.result


@pytest.fixture
def warehouse(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """An empty warehouse of the test's own; with `@pytest.mark.starts_built`, a copy of the whole
    pipeline built on the fixtures (what a first `pipeline()` would build, without building it)."""
    if request.node.get_closest_marker("starts_built"):
        return request.getfixturevalue("template").copy_to(tmp_path, monkeypatch)
    return make_warehouse(tmp_path, monkeypatch)


# One in-memory Dagster instance per DAGSTER_HOME (each warehouse fixture has its own): runs see
# the check history of the fixture's earlier runs, as a user's runs do, without the cost of a
# sqlite event log. `ai-roi run` in the CLI tests uses the real instance at DAGSTER_HOME.
_INSTANCES: dict[str, dg.DagsterInstance] = {}


def dagster_instance() -> dg.DagsterInstance:
    """The Dagster instance of the current warehouse fixture."""
    home = os.environ["DAGSTER_HOME"]
    if home not in _INSTANCES:
        _INSTANCES[home] = dg.DagsterInstance.ephemeral()
    return _INSTANCES[home]


def run_pipeline(selection: str | None = None, **options) -> dg.ExecuteInProcessResult:
    """Materialise (a selection of) the real definitions in-process, as `ai-roi run` does."""
    from ai_roi.cli import selected_keys
    from ai_roi.definitions import defs
    from ai_roi.lib import partitions

    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    keys = selected_keys(graph, selection)
    tags = {**partitions.run_tags(graph, keys), **options.pop("tags", {})}
    return job.execute_in_process(
        instance=dagster_instance(),
        asset_selection=keys if selection else None,
        raise_on_error=False,
        tags=tags,
        **options,
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


def mlflow_client():
    """An MLflow client of the current warehouse's store, for tracking and the registry alike
    (never the process-wide URIs, which the last run pointed at its own store)."""
    from mlflow.tracking import MlflowClient

    store = settings.mlflow_tracking_uri()
    return MlflowClient(tracking_uri=store, registry_uri=store)


def run_dbt(
    args: list[str], db_path: Path, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[int, dict[str, dict]]:
    """dbt's own CLI on the warehouse at `db_path` (with `env` added to the environment: a
    PostgreSQL target's connection): its exit code and its results by node name."""
    target = tmp_path / "dbt_cli_target"
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--profiles-dir",
            ".",
            "--target-path",
            str(target),
            "--log-path",
            str(tmp_path),
        ],
        cwd=ROOT / "dbt",
        env={**os.environ, "AI_ROI_DUCKDB_PATH": str(db_path), **(env or {})},
        capture_output=True,
        text=True,
    )
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    by_name = {}
    for result in results:
        # test.<project>.<name>.<hash>; unit_test.<project>.<model>.<name>
        parts = result["unique_id"].split(".")
        by_name[parts[2] if parts[0] == "test" else parts[-1]] = result
    return completed.returncode, by_name


def dbt_manifest() -> dict:
    """The dbt project's manifest, as the pipeline's definitions read it."""
    from ai_roi.defs.marts.project import dbt_project

    return json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))


def dbt_here(args: list[str], env: dict[str, str], tmp: Path):
    """dbt `args` (a command and its options) in the project, run inside this process as the
    pipeline runs dbt (lib/dbt_in_process: a new dbt process costs about 5 s to start), with
    `env` as the environment, its target and logs in `tmp`: the finished `DbtProcess`."""
    from ai_roi.lib.dbt_in_process import DbtProcess

    return DbtProcess(
        ["dbt", *args]
        + ["--profiles-dir", ".", "--target-path", str(tmp / "target"), "--log-path", str(tmp)],
        env=env,
        cwd=ROOT / "dbt",
    )


# The event carrying the answer of an inline dbt command
_ANSWER = {"compile": "CompiledNode", "show": "ShowNode"}


def dbt_inline(
    command: str, sql: str, target: list[str], env: dict[str, str], tmp: Path, *more: str
) -> tuple[int, dict, str]:
    """dbt `command` (compile, show) of the inline `sql` on `target` (e.g. ["--target",
    "postgres"], or [] for the profile's default) with `env` as the environment, in this process
    (`dbt_here`), its target and logs in `tmp`. Its exit code, the answer (the data of dbt's
    CompiledNode or ShowNode event: `compiled`, `preview`) and everything dbt said."""
    done = dbt_here([command, "--inline", sql, *target, *more], env, tmp)
    said, answer = [], {}
    for line in done.stdout.read().decode().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # not an event: what the invocation raised
            said.append(line)
            continue
        said.append(event["info"]["msg"])
        if event["info"]["name"] == _ANSWER[command]:
            answer = event["data"]
    return done.returncode, answer, "\n".join(said)


@pytest.fixture(scope="module")
def server():
    """A throw-away PostgreSQL on 127.0.0.1 for a test module (scripts/local_postgres.py): its
    connection as PG* variables."""
    with local_postgres.running() as env:
        yield env


def server_database(server: dict, name: str) -> dict:
    """A new, empty database `name` on the test server: psycopg's arguments to connect to it."""
    import psycopg

    with psycopg.connect(**local_postgres.connect_args(server), autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    return local_postgres.connect_args(server, name)


@pytest.fixture
def engines(server, tmp_path):
    """(DuckDB, PostgreSQL) warehouses, both empty: a DuckDB file and a database of the test's
    own on the server (a lib.postgres.Warehouse)."""
    import psycopg

    from ai_roi.lib import postgres

    args = server_database(server, tmp_path.name.lower().replace("-", "_")[:60])
    with (
        duckdb.connect(str(tmp_path / "warehouse.duckdb")) as duck,
        psycopg.connect(**args) as connection,
    ):
        yield duck, postgres.Warehouse(connection)


# Code another process runs to hold a warehouse (its path is sys.argv[1]) until it is killed.
HOLD_OPEN = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1])"
HOLD_RUN_LOCK = (
    "import sys, time; from pathlib import Path; from ai_roi.lib import run_lock;"
    " h = run_lock.acquire(Path(sys.argv[1]), 'group:raw')"
)


def hold_elsewhere(code: str, path: Path):
    """A process that runs `code` on `path`, then holds on until killed (as `kill -9` does)."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", f"{code}; print('held', flush=True); time.sleep(120)", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def staged_work_tables(warehouse: Warehouse) -> list[str]:
    """Tables of the staged schema that are not a source's staged table: a batch staged and not
    published (lib/staging.candidate_table) must not outlive its run."""
    return [
        t
        for (t,) in warehouse.query(
            "select table_name from duckdb_tables() where schema_name = 'staged'"
            " and starts_with(table_name, '_')"
        )
    ]


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
