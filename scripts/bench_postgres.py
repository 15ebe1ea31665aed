"""`make bench-postgres`: the dbt marts built on DuckDB and on PostgreSQL from the same sources.

For the full embedded order lines (1x) and ten shifted copies of them (10x, generated from the
real file as `make bench` does), the data side is built on DuckDB (`ai-roi run --select` raw,
staged and marts). Then the dbt models that side builds (staging views, core facts and
dimensions, KPI and quality marts, with their data tests) are built again from scratch
(`dbt build --full-refresh`), once on that DuckDB file and once on a throw-away PostgreSQL on
127.0.0.1 that received the same dbt sources (timed apart: the copy). At 1x every model is then
compared row by row on both engines.

The raw load (lib/warehouse.py load_source: the files read, fingerprinted and stored with their
bookkeeping) runs on both engines and is timed on each, into an empty DuckDB file and an empty
PostgreSQL database, and so are the raw order lines' Pandera checks on what each loaded
(lib.rules.validate_table; their counts are compared). The staged layer (Python and DuckDB SQL)
does not run on PostgreSQL yet, so there is no whole data side to time there. The figures are printed as a table and written to
metrics/bench_postgres.json (under AI_ROI_OUTPUT_DIR); nothing is asserted. `make bench-postgres
QUICK=1` runs 1x only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg

from ai_roi import settings
from ai_roi.defs.orders import schemas as orders
from ai_roi.lib import postgres
from ai_roi.lib.rules import validate_table
from ai_roi.lib.warehouse import load_source
from ai_roi.sources import load_catalog
from scripts import local_postgres
from scripts.bench import (
    DATA_SIDE,
    measure_and_write,
    measured,
    scaled_catalog,
    scaled_orders,
)
from scripts.bench_incremental import ORDERS, warehouse_env

SCALES = (1, 10)
# the dbt models the data side builds: not the ROI models, not the governance marts
MODELS = [
    "path:models/staging",
    "path:models/marts/core",
    "path:models/marts/kpis",
    "path:models/marts/quality",
]
DBT = str(Path(sys.executable).with_name("dbt"))


def dbt_build(env: dict[str, str], target: str, folder: Path) -> dict:
    return measured(
        [DBT, "build", "--full-refresh", "--select", *MODELS, "--target", target]
        + ["--project-dir", str(settings.DBT_PROJECT_DIR)]
        + ["--profiles-dir", str(settings.DBT_PROJECT_DIR)]
        + ["--target-path", str(folder / f"dbt_{target}"), "--log-path", str(folder)],
        env,
    )


def built_models(folder: Path, target: str) -> list[tuple[str, str]]:
    results = json.loads((folder / f"dbt_{target}" / "run_results.json").read_text())["results"]
    manifest = json.loads((folder / f"dbt_{target}" / "manifest.json").read_text())["nodes"]
    return sorted(
        (manifest[r["unique_id"]]["schema"], manifest[r["unique_id"]]["alias"])
        for r in results
        if r["unique_id"].startswith("model.")
    )


def raw_layer(folder: Path, server: dict[str, str]) -> dict:
    """The order lines loaded into raw on each engine from empty, then their raw checks
    (lib.rules.validate_table with the product's schema): seconds and rows of each, and whether
    the checks counted the same failing rows per rule on both."""
    catalog = load_catalog(folder / "sources.yaml")
    schema, rules = orders.raw_schema(catalog), orders.RAW_RULES
    figures, reports = {"load": {}, "checks": {}}, {}
    with (
        duckdb.connect(str(folder / "raw_only.duckdb")) as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as connection,
    ):
        for engine, con in (("duckdb", duck), ("postgres", postgres.Warehouse(connection))):
            started = time.perf_counter()
            rows = load_source(con, "order_lines", catalog.order_lines, "bench").rows
            figures["load"][engine] = {"seconds": _since(started), "rows": rows}
            started = time.perf_counter()
            reports[engine] = validate_table(con, "raw.order_lines__current", schema, rules)
            figures["checks"][engine] = {
                "seconds": _since(started),
                "rows": reports[engine].rows_checked,
            }
    for part in figures.values():
        duck_s = part["duckdb"]["seconds"]
        part["ratio_postgres_to_duckdb"] = (
            round(part["postgres"]["seconds"] / duck_s, 2) if duck_s else None
        )
    counts = {e: {o.label: o.failures for o in r.outcomes} for e, r in reports.items()}
    figures["checks"]["same_counts"] = counts["duckdb"] == counts["postgres"]
    return figures


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def bench_scale(root: Path, scale: int, timestamp_format: str) -> dict:
    folder = root / f"x{scale}"
    orders = folder / "landing" / "online_retail.csv.gz"
    lines = scaled_orders(ORDERS, orders, scale, timestamp_format)
    env = warehouse_env(folder, scaled_catalog(orders, scale))
    data_side = measured(
        [str(Path(sys.executable).with_name("ai-roi")), "run", "--select", DATA_SIDE], env
    )
    db_path = folder / "state" / "warehouse.duckdb"
    env = {**env, "AI_ROI_DUCKDB_PATH": str(db_path)}
    on_duckdb = dbt_build(env, "dev", folder)
    figures = {
        "scale": scale,
        "order_lines": lines,
        "duckdb_data_side_run": data_side,
        "dbt_build_duckdb": on_duckdb,
    }
    with local_postgres.running() as server:
        figures["raw"] = raw_layer(folder, server)
        manifest = json.loads((folder / "dbt_dev" / "manifest.json").read_text())
        sources = postgres.dbt_sources(manifest)
        with duckdb.connect(str(db_path), read_only=True) as duck:
            present = {
                (s, t)
                for s, t in duck.execute(
                    "select table_schema, table_name from information_schema.tables"
                ).fetchall()
            }
            started = time.perf_counter()
            with psycopg.connect(**local_postgres.connect_args(server)) as pg:
                rows = postgres.copy_tables(duck, pg, [s for s in sources if s in present])
            figures["copy_sources_to_postgres"] = {
                "seconds": round(time.perf_counter() - started, 2),
                "rows": sum(rows.values()),
            }
        figures["dbt_build_postgres"] = dbt_build({**env, **server}, "postgres", folder)
        models = built_models(folder, "dev")
        figures["models"] = len(models)
        if scale == 1:
            with (
                duckdb.connect(str(db_path), read_only=True) as duck,
                psycopg.connect(**local_postgres.connect_args(server)) as pg,
            ):
                figures["models_differing"] = postgres.differences(duck, pg, models)
    pg_s, duck_s = figures["dbt_build_postgres"]["seconds"], on_duckdb["seconds"]
    figures["dbt_ratio_postgres_to_duckdb"] = round(pg_s / duck_s, 2) if duck_s else None
    return figures


HEADER = (
    f"{'scale':>5} {'lines':>11} {'DuckDB data side s':>18} {'raw DuckDB s':>12} "
    f"{'raw PG s':>9} {'PG/DuckDB':>9} {'checks DuckDB s':>15} {'checks PG s':>11} "
    f"{'PG/DuckDB':>9} {'dbt DuckDB s':>12} {'copy to PG s':>12} {'dbt PG s':>9} "
    f"{'PG/DuckDB':>9}  models"
)


def print_row(s: dict) -> None:
    ratio = s["dbt_ratio_postgres_to_duckdb"]
    same = (
        f"{s['models'] - len(s['models_differing'])} of {s['models']} equal row by row"
        if "models_differing" in s
        else f"{s['models']} (not compared at this size)"
    )
    load, checks = s["raw"]["load"], s["raw"]["checks"]

    def ratio_of(part: dict) -> str:
        return "-" if part["ratio_postgres_to_duckdb"] is None else part["ratio_postgres_to_duckdb"]

    print(
        f"{s['scale']:>4}x {s['order_lines']:>11,} {s['duckdb_data_side_run']['seconds']:>18.1f} "
        f"{load['duckdb']['seconds']:>12.1f} {load['postgres']['seconds']:>9.1f} "
        f"{ratio_of(load):>9} {checks['duckdb']['seconds']:>15.1f} "
        f"{checks['postgres']['seconds']:>11.1f} {ratio_of(checks):>9} "
        f"{s['dbt_build_duckdb']['seconds']:>12.1f} {s['copy_sources_to_postgres']['seconds']:>12.1f} "
        f"{s['dbt_build_postgres']['seconds']:>9.1f} {'-' if ratio is None else ratio:>9}  {same}",
        flush=True,
    )
    if load["duckdb"]["rows"] != load["postgres"]["rows"]:
        print(f"      RAW ROWS DIFFER: {load}", flush=True)
    if not checks["same_counts"]:
        print("      RAW CHECKS COUNT DIFFERENTLY ON THE TWO ENGINES", flush=True)
    for difference in s.get("models_differing", []):
        print(f"      DIFFERS: {difference}", flush=True)
    for name in ("duckdb_data_side_run", "dbt_build_duckdb", "dbt_build_postgres"):
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
