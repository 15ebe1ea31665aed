"""`make bench-postgres`: the data side on DuckDB and on PostgreSQL, from the same sources.

For the full embedded order lines (1x) and ten shifted copies of them (10x, generated from the
real file as `make bench` does), the pipeline's data side (`ai-roi run --select` the raw, staged,
dbt staging and marts groups: the files loaded, checked, staged and quarantined, the dbt models
built and tested) runs twice from empty: on a DuckDB file, and with `AI_ROI_WAREHOUSE=postgres`
on a throw-away PostgreSQL on 127.0.0.1, the same code on both. Each is timed with its peak
memory (the pipeline's own processes: the PostgreSQL server's memory is not counted), and the
ratio is printed. Then every relation of the `marts` schema is compared row by row on the two
engines (lib.postgres.first_difference, leaving out each build's own ids and times), so a fast
run that built something else cannot pass for a result.

The figures are printed as a table and written to metrics/bench_postgres.json (under
AI_ROI_OUTPUT_DIR); nothing is asserted and there is no speed goal for PostgreSQL.
`make bench-postgres QUICK=1` runs 1x only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg

from ai_roi.lib import postgres
from ai_roi.lib.warehouse import relation_names
from scripts import local_postgres
from scripts.bench import DATA_SIDE, measure_and_write, measured, scaled_catalog, scaled_orders
from scripts.bench_incremental import ORDERS, warehouse_env

SCALES = (1, 10)
AI_ROI = str(Path(sys.executable).with_name("ai-roi"))
# both warehouses pseudonymise with one key, so their marts can be compared value by value
KEY = "bench-postgres: one pseudonym key for both engines"
DATABASE = "warehouse"


def data_side(env: dict[str, str]) -> dict:
    return measured([AI_ROI, "run", "--select", DATA_SIDE], {**env, "AI_ROI_PSEUDONYM_KEY": KEY})


def server_env(folder: Path, catalog: dict, server: dict[str, str]) -> dict[str, str]:
    """The environment of a pipeline whose warehouse is the server's database `DATABASE` (its
    Dagster and MLflow state stay local files, as on DuckDB: the warehouse is what is timed)."""
    env = {**warehouse_env(folder, catalog), **server}
    env.update({"PGDATABASE": DATABASE, "AI_ROI_WAREHOUSE": "postgres"})
    env.pop("DBT_TARGET", None)  # dbt's target follows the engine
    return env


def marts_differing(duck_path: Path, server: dict[str, str]) -> tuple[int, list[str]]:
    """How many marts there are, and the first difference of each that differs."""
    with (
        duckdb.connect(str(duck_path), read_only=True) as duck,
        psycopg.connect(**local_postgres.connect_args(server, DATABASE)) as pg,
    ):
        marts = relation_names(duck, "marts")
        found = [
            postgres.first_difference(duck, pg, "marts", m, postgres.BUILD_OWN_COLUMNS)
            for m in marts
        ]
    return len(marts), [d for d in found if d]


def bench_scale(root: Path, scale: int, timestamp_format: str) -> dict:
    folder = root / f"x{scale}"
    orders = folder / "landing" / "online_retail.csv.gz"
    lines = scaled_orders(ORDERS, orders, scale, timestamp_format)
    catalog = scaled_catalog(orders, scale)
    on_duckdb = data_side(warehouse_env(folder / "duckdb", catalog))
    with local_postgres.running() as server:
        with psycopg.connect(**local_postgres.connect_args(server), autocommit=True) as con:
            con.execute(f"create database {DATABASE}")
        on_postgres = data_side(server_env(folder / "postgres", catalog, server))
        marts, differing = marts_differing(folder / "duckdb" / "state" / "warehouse.duckdb", server)
    duck_s = on_duckdb["seconds"]
    return {
        "scale": scale,
        "order_lines": lines,
        "data_side_duckdb": on_duckdb,
        "data_side_postgres": on_postgres,
        "ratio_postgres_to_duckdb": round(on_postgres["seconds"] / duck_s, 2) if duck_s else None,
        "marts": marts,
        "marts_differing": differing,
    }


HEADER = (
    f"{'scale':>5} {'order lines':>11} {'DuckDB s':>9} {'DuckDB GiB':>10} "
    f"{'PostgreSQL s':>12} {'PG GiB':>7} {'PG/DuckDB':>9}  marts"
)


def print_row(s: dict) -> None:
    duck, pg, ratio = s["data_side_duckdb"], s["data_side_postgres"], s["ratio_postgres_to_duckdb"]
    print(
        f"{s['scale']:>4}x {s['order_lines']:>11,} {duck['seconds']:>9.1f} "
        f"{duck['peak_gib']:>10.2f} {pg['seconds']:>12.1f} {pg['peak_gib']:>7.2f} "
        f"{'-' if ratio is None else ratio:>9}  "
        f"{s['marts'] - len(s['marts_differing'])} of {s['marts']} equal row by row",
        flush=True,
    )
    for difference in s["marts_differing"]:
        print(f"      DIFFERS: {difference}", flush=True)
    for name in ("data_side_duckdb", "data_side_postgres"):
        if s[name]["exit_code"]:
            print(f"      FAILED: {name} exit {s[name]['exit_code']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1x only")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("QUICK") not in (None, "", "0")
    pg_version = subprocess.run(
        [str(local_postgres.bin_dir() / "postgres"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "postgres": pg_version},
        "scales": [],
    }
    scales = (1,) if quick else SCALES
    measure_and_write(results, scales, bench_scale, print_row, HEADER, "bench_postgres.json")


if __name__ == "__main__":
    main()
