"""Retention: the newest folders of one kind are kept, older ones and other kinds untouched."""

from __future__ import annotations

import os

from dagster_project.lib.retention import keep_newest


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
