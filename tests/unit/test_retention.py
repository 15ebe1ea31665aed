"""Retention: the newest folders of one kind are kept, older ones and other kinds untouched."""

from __future__ import annotations

import os

from ai_roi.lib.retention import keep_newest


def test_only_the_newest_folders_of_the_prefix_are_kept(tmp_path):
    for i in range(5):
        folder = tmp_path / f"dbt_models-run{i}"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "roi_models-run0").mkdir()
    (tmp_path / "dbt.log").write_text("log")
    removed = keep_newest(tmp_path, "dbt_models-", 2)
    assert sorted(p.name for p in removed) == [
        "dbt_models-run0",
        "dbt_models-run1",
        "dbt_models-run2",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dbt.log",
        "dbt_models-run3",
        "dbt_models-run4",
        "roi_models-run0",
    ]
    assert keep_newest(tmp_path / "missing", "dbt_models-", 2) == []


def test_only_the_newest_runs_of_a_history_table_are_kept():
    import duckdb

    from ai_roi.lib.retention import keep_newest_runs

    con = duckdb.connect()
    con.execute("create schema quality")
    con.execute("create table quality.check_results (run_id varchar, evaluated_at timestamp)")
    # run-b's rows straddle run-a's: a run counts by its latest row
    con.execute(
        """insert into quality.check_results values
        ('run-a', '2026-01-01 10:00'), ('run-a', '2026-01-01 10:05'),
        ('run-b', '2026-01-01 09:00'), ('run-b', '2026-01-01 11:00'),
        ('run-c', '2026-01-02 10:00')"""
    )
    assert keep_newest_runs(con, "quality.check_results", "evaluated_at", 2) == 2
    kept = con.execute("select distinct run_id from quality.check_results order by 1").fetchall()
    assert kept == [("run-b",), ("run-c",)]
    assert keep_newest_runs(con, "quality.check_results", "evaluated_at", 2) == 0
