"""`ai-roi run` (what `make run` calls) succeeds and its summary matches the warehouse."""

from __future__ import annotations

import re

from dagster_project import cli


def test_run_prints_a_summary_that_matches_duckdb(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.root / "dagster_home"))
    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out

    stages = re.findall(r"^  (raw|staged|marts)\s+(\w+)\s+([\d,]+)$", out, flags=re.M)
    assert {stage for stage, _, _ in stages} == {"raw", "staged", "marts"}
    for stage, table, rows in stages:
        if stage == "raw":
            expected = warehouse.scalar(f"select count(*) from raw.{table}__current")
        else:
            expected = warehouse.scalar(f"select count(*) from {stage}.{table}")
        assert int(rows.replace(",", "")) == expected, (stage, table)

    held = re.findall(
        r"^  (\w+)\s+(\w+)\s+(\w+)\s+([\d,]+)$",
        out.split("Quarantined rows by rule")[1],
        flags=re.M,
    )
    in_db = warehouse.query(
        "select source, rule, dimension, count(*) from quarantine.rows group by all"
    )
    assert sorted((s, r, d, int(n.replace(",", ""))) for s, r, d, n in held) == sorted(in_db)

    checks = re.search(r"Checks: (\d+) run, (\d+) passed, (\d+) warned, (\d+) failed", out)
    run, passed, warned, failed = map(int, checks.groups())
    assert run == passed + warned + failed and failed == 0 and run > 50
    assert str(warehouse.db_path) in out
