"""Build the dbt project on a throw-away PostgreSQL from a DuckDB warehouse's sources and compare
every model with that warehouse, row by row.

    python -m scripts.compare_engines state/warehouse.duckdb   # after `make run`

Both engines build from the same input at the same moment: the warehouse is copied to a
temporary folder and the dbt project built again there (`dbt build`, DuckDB), since a mart in the
warehouse may predate rows its sources got later in the run (the audit log records a run after
its marts). Then PostgreSQL starts on 127.0.0.1 (scripts/local_postgres.py), receives the dbt
sources of that copy with their types, and builds the project (`dbt build --target postgres`:
models, data tests, unit tests). For each model it prints "equal" or the first differing row with
both values. Exit 0 when both builds passed and every model is equal, 1 otherwise. Nothing is
written outside the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import psycopg

from ai_roi import settings
from ai_roi.lib import postgres
from scripts import local_postgres


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path, help="a DuckDB warehouse the pipeline built")
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        parser.error(f"{args.warehouse} is not a file: run the pipeline first (make run)")
    with (
        tempfile.TemporaryDirectory(prefix="ai_roi_compare_") as tmp,
        local_postgres.running() as server,
    ):
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, copy)
        on_duckdb = _dbt(["build"], {"AI_ROI_DUCKDB_PATH": str(copy)}, Path(tmp) / "duckdb")
        if on_duckdb is None:
            return 1
        print("dbt build on DuckDB:", on_duckdb)
        target = Path(tmp) / "postgres"
        if _dbt(["parse", "--target", "postgres"], server, target) is None:
            return 1
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        sources, models = postgres.dbt_sources(manifest), postgres.dbt_models(manifest)
        with (
            duckdb.connect(str(copy), read_only=True) as duck,
            psycopg.connect(**local_postgres.connect_args(server)) as pg,
        ):
            copied = postgres.copy_tables(duck, pg, sources)
            print(f"copied {sum(copied.values()):,} rows of {len(copied)} source tables")
            on_postgres = _dbt(["build", "--target", "postgres"], server, target)
            if on_postgres is None:
                return 1
            print("dbt build on PostgreSQL:", on_postgres)
            differences = []
            for schema, table in models:
                found = postgres.first_difference(duck, pg, schema, table)
                print(f"  {schema}.{table}: {found or 'equal'}", flush=True)
                differences += [found] if found else []
    print(f"{len(models) - len(differences)} of {len(models)} models equal on both engines")
    return 1 if differences else 0


def _dbt(args: list[str], env: dict[str, str], target: Path) -> str | None:
    """dbt `args` in the project with `env` added: its "PASS=... TOTAL=..." summary, or None (its
    output printed) when it failed."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args, "--profiles-dir", "."]
        + ["--target-path", str(target), "--log-path", str(target)],
        cwd=settings.DBT_PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-3000:])
        return None
    summary = [line for line in done.stdout.splitlines() if "Done. PASS=" in line]
    return summary[-1].split("Done. ")[-1] if summary else "done"


if __name__ == "__main__":
    sys.exit(main())
