"""Settings are resolved when used, the pseudonym key is never a shared default, and the suite's
guard on the user's state fires."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import duckdb
import jinja2
import pytest
import yaml

from ai_roi import settings
from ai_roi.resources import MartsExportResource, WarehouseResource
from tests.user_state import changes, fingerprint


def test_derived_paths_follow_the_state_dir_set_after_import(tmp_path, monkeypatch):
    for name in ("AI_ROI_DUCKDB_PATH", "AI_ROI_EXPORT_PATH", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path / "elsewhere"))
    assert settings.export_path().is_relative_to(tmp_path / "elsewhere")
    assert settings.duckdb_path().is_relative_to(tmp_path / "elsewhere")
    assert settings.dagster_home().is_relative_to(tmp_path / "elsewhere")
    # and the resources the definitions were built with, long before this test changed it
    assert MartsExportResource().location.is_relative_to(tmp_path / "elsewhere")
    assert WarehouseResource().location.is_relative_to(tmp_path / "elsewhere")


def test_an_explicit_path_wins_over_the_derived_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ROI_EXPORT_PATH", str(tmp_path / "bi.duckdb"))
    assert settings.export_path() == tmp_path / "bi.duckdb"


def _dbt_profile_path(env: dict[str, str]) -> str:
    text = (settings.DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    profile = yaml.safe_load(text)["ai_roi"]["outputs"]["dev"]["path"]

    def env_var(name, default=None):
        return env.get(name, default)

    return jinja2.Environment().from_string(profile).render(env_var=env_var)


def test_dbt_derives_the_warehouse_path_as_dagster_does(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_ROI_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path))
    assert Path(_dbt_profile_path({"AI_ROI_STATE_DIR": str(tmp_path)})) == settings.duckdb_path()
    explicit = str(tmp_path / "other.duckdb")
    assert _dbt_profile_path({"AI_ROI_DUCKDB_PATH": explicit}) == explicit


def test_duckdb_memory_limit_is_read_when_a_connection_opens(tmp_path, monkeypatch):
    """The pipeline's connections and dbt's profile take the limit set after import."""
    monkeypatch.setenv("AI_ROI_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("AI_ROI_DUCKDB_MEMORY_LIMIT", raising=False)
    with WarehouseResource().get_connection() as con:
        default = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    monkeypatch.setenv("AI_ROI_DUCKDB_MEMORY_LIMIT", "1GB")
    with WarehouseResource().get_connection() as con:
        limited = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert limited != default
    assert limited.endswith("MiB") and float(limited.split()[0]) < 1024
    # unset, the pipeline's default, below DuckDB's own (80% of RAM)
    with duckdb.connect() as plain:
        duckdbs = plain.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert _bytes(default) < _bytes(duckdbs)
    text = (settings.DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    for env, expected in (({"AI_ROI_DUCKDB_MEMORY_LIMIT": "1GB"}, "1GB"), ({}, "25%")):

        def env_var(name, default=None, env=env):
            return env.get(name, default)

        for target in ("dev", "ci"):
            setting = yaml.safe_load(text)["ai_roi"]["outputs"][target]["settings"]["memory_limit"]
            assert jinja2.Environment().from_string(setting).render(env_var=env_var) == expected
    assert settings.DUCKDB_MEMORY_LIMIT == "25%"  # dbt's profile and the connections agree


def _bytes(setting: str) -> float:
    """A DuckDB memory setting such as '5.8 GiB' in bytes."""
    value, unit = setting.split()
    return float(value) * 1024 ** {"KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4}[unit]


def test_an_empty_pseudonym_key_is_an_error(monkeypatch):
    monkeypatch.setenv("AI_ROI_PSEUDONYM_KEY", "")
    with pytest.raises(settings.ConfigurationError, match="AI_ROI_PSEUDONYM_KEY is set but empty"):
        settings.pseudonym_key()
    monkeypatch.setenv("AI_ROI_PSEUDONYM_KEY", "short")
    with pytest.raises(settings.ConfigurationError, match="too short"):
        settings.pseudonym_key()


def test_each_installation_generates_its_own_private_key(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_ROI_PSEUDONYM_KEY", raising=False)
    keys = []
    for name in ("one", "two"):
        monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path / name))
        key = settings.pseudonym_key()
        assert settings.pseudonym_key() == key  # stable within an installation
        mode = stat.S_IMODE(settings.key_file().stat().st_mode)
        assert mode == 0o600, oct(mode)
        assert stat.S_IMODE(settings.key_file().parent.stat().st_mode) == 0o700
        keys.append(key)
    assert keys[0] != keys[1]
    assert len(keys[0]) >= 32


def test_the_state_folder_is_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path / "state"))
    path = settings.ensure_state_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_the_user_state_guard_fires_on_a_write(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "warehouse.duckdb").write_bytes(b"real data")
    (tmp_path / "reports").mkdir()
    before = fingerprint(tmp_path)
    assert changes(before, fingerprint(tmp_path)) == []
    target = tmp_path / "state" / "warehouse.duckdb"
    target.write_bytes(b"fixture data, same size")
    os.utime(target, ns=(1, 1))
    (tmp_path / "reports" / "quality.html").write_text("x", encoding="utf-8")
    found = changes(before, fingerprint(tmp_path))
    assert "changed state/warehouse.duckdb" in found
    assert "added reports/quality.html" in found


def test_the_configured_dagster_instance_is_the_one_in_use(tmp_path, monkeypatch):
    """AI_ROI_DAGSTER_YAML replaces the instance configuration whenever it differs; without it an
    existing dagster.yaml is left as the user wrote it; a wrong name is said, not ignored."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AI_ROI_DAGSTER_YAML", raising=False)
    written = settings.ensure_dagster_home() / "dagster.yaml"
    local = written.read_text(encoding="utf-8")
    server = settings.PROJECT_ROOT / "config" / "dagster.postgres.yaml"
    monkeypatch.setenv("AI_ROI_DAGSTER_YAML", str(server))
    settings.ensure_dagster_home()
    assert written.read_text(encoding="utf-8") == server.read_text(encoding="utf-8") != local
    assert yaml.safe_load(written.read_text(encoding="utf-8"))["storage"]["postgres"]
    monkeypatch.delenv("AI_ROI_DAGSTER_YAML")
    written.write_text("telemetry:\n  enabled: true\n", encoding="utf-8")
    settings.ensure_dagster_home()
    assert written.read_text(encoding="utf-8") == "telemetry:\n  enabled: true\n"
    monkeypatch.setenv("AI_ROI_DAGSTER_YAML", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match="AI_ROI_DAGSTER_YAML names"):
        settings.ensure_dagster_home()


def test_a_local_instance_keeps_its_event_log_in_its_own_home(tmp_path, monkeypatch):
    """The product's dagster.yaml names the pooled event log and the home's own history folder;
    a home copied elsewhere (a test's copy of a built warehouse) or written by an earlier version
    gets the yaml of where it is now, and Dagster opens that storage."""
    import dagster as dg

    from ai_roi.lib.event_log import PooledSqliteEventLogStorage

    monkeypatch.delenv("AI_ROI_DAGSTER_YAML", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "first"))
    first = settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert Path(storage._base_dir) == (first / "history" / "runs").resolve()

    copied = tmp_path / "copy"
    shutil.copytree(first, copied)
    monkeypatch.setenv("DAGSTER_HOME", str(copied))
    settings.ensure_dagster_home()
    text = (copied / "dagster.yaml").read_text(encoding="utf-8")
    assert str(copied.resolve() / "history" / "runs") in text and str(first) not in text

    (copied / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    settings.ensure_dagster_home()
    assert (copied / "dagster.yaml").read_text(encoding="utf-8") == text


def test_mlflow_artifacts_go_where_the_store_keeps_them(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_ROI_MLFLOW_ARTIFACTS", raising=False)
    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert Path(settings.mlflow_artifacts()).is_relative_to(tmp_path)
    # a tracking server keeps them itself
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert settings.mlflow_artifacts() is None
    # unless a store is named, a folder or a URI
    monkeypatch.setenv("AI_ROI_MLFLOW_ARTIFACTS", "s3://bucket/ai-roi")
    assert settings.mlflow_artifacts() == "s3://bucket/ai-roi"


def test_the_dbt_target_follows_the_warehouse_and_another_is_refused_with_the_way_out(
    monkeypatch,
):
    """dbt builds the marts in the database the pipeline writes: the target's adapter is the
    warehouse's engine (AI_ROI_WAREHOUSE), by default the profile's target for it."""
    monkeypatch.delenv("AI_ROI_WAREHOUSE", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    assert settings.warehouse_engine() == "duckdb"
    assert settings.dbt_target() == "dev"
    monkeypatch.setenv("DBT_TARGET", "ci")
    assert settings.dbt_target() == "ci"
    monkeypatch.setenv("DBT_TARGET", "postgres")
    with pytest.raises(ValueError, match=r"'postgres' is a postgres target.*\['ci', 'dev'\]"):
        settings.dbt_target()
    monkeypatch.setenv("AI_ROI_WAREHOUSE", "postgres")
    assert settings.dbt_target() == "postgres"
    monkeypatch.delenv("DBT_TARGET")
    assert settings.dbt_target() == "postgres"
    monkeypatch.setenv("DBT_TARGET", "dev")
    with pytest.raises(ValueError, match=r"'dev' is a duckdb target.*warehouse is postgres"):
        settings.dbt_target()
    monkeypatch.setenv("DBT_TARGET", "prod")
    with pytest.raises(ValueError, match=r"'prod' is not a target of dbt/profiles.yml"):
        settings.dbt_target()
    monkeypatch.setenv("AI_ROI_WAREHOUSE", "sqlite")
    with pytest.raises(settings.ConfigurationError, match="duckdb or postgres"):
        settings.warehouse_engine()


def test_ai_roi_run_on_such_a_target_says_so_and_starts_nothing(tmp_path, monkeypatch, capsys):
    from ai_roi import cli

    monkeypatch.setenv("AI_ROI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DBT_TARGET", "postgres")
    assert cli.main(["run"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("Not started: DBT_TARGET='postgres' is a postgres target")
    assert not (tmp_path / "state").exists()


def test_an_unknown_marts_server_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("AI_ROI_MARTS_SERVER", "mysql")
    with pytest.raises(settings.ConfigurationError, match="postgres"):
        settings.marts_server()


def test_dbt_in_process_is_read_when_used(monkeypatch):
    monkeypatch.setenv("AI_ROI_DBT_IN_PROCESS", "0")
    assert settings.dbt_in_process() is False
    monkeypatch.setenv("AI_ROI_DBT_IN_PROCESS", "sometimes")
    with pytest.raises(settings.ConfigurationError, match="AI_ROI_DBT_IN_PROCESS"):
        settings.dbt_in_process()
    monkeypatch.delenv("AI_ROI_DBT_IN_PROCESS")
    assert settings.dbt_in_process() is True


def test_a_thread_count_that_is_no_count_is_refused(monkeypatch):
    monkeypatch.setenv("AI_ROI_ML_THREADS", "0")
    with pytest.raises(settings.ConfigurationError, match="AI_ROI_ML_THREADS"):
        settings.ml_threads()


def test_the_clis_own_connections_to_the_warehouse_keep_the_memory_limit(
    tmp_path, monkeypatch, capsys
):
    """`ai-roi summary` (and the run's bookkeeping around the job) open the warehouse themselves:
    those connections take AI_ROI_DUCKDB_MEMORY_LIMIT as the pipeline's do."""
    from ai_roi import cli
    from ai_roi.lib.warehouse import ensure_schemas

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_schemas(con)  # what any run leaves
    monkeypatch.setenv("AI_ROI_DUCKDB_PATH", str(path))
    monkeypatch.setenv("AI_ROI_DUCKDB_MEMORY_LIMIT", "300MB")
    with duckdb.connect(config={"memory_limit": "300MB"}) as expected_con:
        expected = expected_con.execute("select current_setting('memory_limit')").fetchone()[0]
    opened = []
    real_connect = duckdb.connect

    def connect(database=":memory:", *args, **kwargs):
        con = real_connect(database, *args, **kwargs)
        if str(database) == str(path):
            opened.append(con.execute("select current_setting('memory_limit')").fetchone()[0])
        return con

    monkeypatch.setattr(duckdb, "connect", connect)
    assert cli.main(["summary"]) == 0
    capsys.readouterr()
    assert opened, "the summary opened the warehouse"
    assert set(opened) == {expected}
