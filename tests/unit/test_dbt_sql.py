"""SQL rendered by dbt for an engine (lib.dbt_sql): each engine's spelling, the project as
`dbt parse` saved it only while no macro changed since, and dbt's own reason when it cannot."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from ai_roi.lib import dbt_sql
from ai_roi.lib.dbt_in_process import DbtProcess
from tests.conftest import ROOT


def test_each_engine_gets_its_own_spelling(monkeypatch):
    """The same macro call, each adapter's dispatch: DuckDB's aggregate, PostgreSQL's arrays
    (rendered without a server: the PG* variables point nowhere)."""
    monkeypatch.setenv("PGPORT", "1")
    duck = dbt_sql.render("duckdb", "staging_tickets")
    pg = dbt_sql.render("postgres", "staging_tickets")
    assert "arg_min(priority, event_seq)" in duck
    assert "array_agg(priority order by event_seq)" in pg
    assert "arg_min" not in pg


def test_a_macro_edited_after_the_saved_parse_renders_as_edited(tmp_path, monkeypatch):
    """A saved parse (target/manifest.json) older than a macro is not used, and a rendering kept
    in the process is not returned after the edit."""
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)  # the project's own target folder
    project = tmp_path / "dbt"
    shutil.copytree(ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    probe = project / "macros" / "probe.sql"
    probe.write_text("{% macro probe() %}select 1 as before_edit{% endmacro %}", encoding="utf-8")
    parsed = DbtProcess(
        ["dbt", "parse", "--profiles-dir", ".", "--log-path", str(tmp_path)], cwd=project
    )
    assert parsed.returncode == 0
    edited = dbt_sql._edited(str(project))
    assert dbt_sql._parsed(str(project), "duckdb", edited) is not None  # the saved parse is read
    assert dbt_sql.render("duckdb", "probe", project_dir=project) == "select 1 as before_edit"

    time.sleep(0.01)
    probe.write_text("{% macro probe() %}select 2 as after_edit{% endmacro %}", encoding="utf-8")
    later = time.time() + 5
    os.utime(probe, (later, later))  # newer than the saved parse whatever the clock's grain
    assert dbt_sql._parsed(str(project), "duckdb", dbt_sql._edited(str(project))) is None
    assert dbt_sql.render("duckdb", "probe", project_dir=project) == "select 2 as after_edit"


def test_what_dbt_cannot_render_is_refused_with_dbts_reason():
    with pytest.raises(dbt_sql.DbtRenderError, match="staging_nothing"):
        dbt_sql.render("duckdb", "staging_nothing")


def test_a_rendering_dbt_refused_leaves_the_next_ones_working():
    """dbt adds each inline query to the parsed project it is given and takes it out only when
    the command ends well: a refused rendering must not leave the process's project holding one
    (every later rendering was then refused: "dbt found two sql_operations")."""
    dbt_sql._render.cache_clear()  # renderings of this process's earlier tests are not asked
    for _ in range(2):
        with pytest.raises(dbt_sql.DbtRenderError, match="staging_nothing"):
            dbt_sql.render("duckdb", "staging_nothing")
        assert "create" in dbt_sql.render("duckdb", "warehouse_tables").lower()
        dbt_sql._render.cache_clear()


def test_a_process_leaves_no_rendering_folder_behind(tmp_path):
    """dbt writes a target folder (a manifest, a parse, about 4 MB) for a process's renderings:
    it goes with the process, or every `ai-roi run` leaves one in the temp folder."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from ai_roi.lib import dbt_sql; dbt_sql.render('duckdb', 'staging_tickets');"
        " print(dbt_sql._target_path())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("ai_roi_dbt_sql_")
    assert not folder.exists()
