"""Benchmark of a pipeline run week after week: full history, nothing new, one new month.

Cuts the embedded order lines and ticket events into one file per month (the real rows, as
monthly exports are cut), holds the last complete month of order lines back (the partial month
after it is left out), and times `ai-roi run` three times in a warehouse of its own:

1. the first run over every month (the full refresh),
2. a run with nothing new,
3. a run after the held-back month lands in the landing folder.

Goals (issue 12): the no-change run within 20 s, the new month within 1/5 of the full refresh.
Prints the figures; it asserts nothing. `make bench-incremental`; the state goes to
$AI_ROI_BENCH_DIR (default: a temporary folder, removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "config" / "sources.yaml"
ORDERS = ROOT / "data" / "uci_online_retail" / "online_retail.csv.gz"
EVENTS = ROOT / "data" / "incident_event_log" / "incident_event_log.csv.gz"


def cut_by_month(src: Path, dest: Path, column: str, fmt: str) -> list[Path]:
    """One gzip CSV per month of `column` (folders month=YYYY-MM), with the file's own header."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(
            f"copy (select *, coalesce(strftime(try_strptime({column}, '{fmt}'), '%Y-%m'),"
            f" 'undated') as month from read_csv('{src}', all_varchar = true))"
            f" to '{dest}' (format csv, header, partition_by (month), compression gzip)"
        )
    return sorted(dest.glob("month=*/*.csv.gz"))


def product_catalog() -> dict:
    """The product's source catalogue with every file path absolute, to edit and write elsewhere."""
    catalog = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    for source in catalog["sources"].values():
        for spec in source["files"]:
            spec["path"] = str((CATALOG.parent / spec["path"]).resolve())
    messages = catalog["sources"]["messages"]
    messages["label_set_path"] = str((CATALOG.parent / messages["label_set_path"]).resolve())
    return catalog


def warehouse_env(root: Path, catalog: dict) -> dict[str, str]:
    """`catalog` written into `root`, and the environment of a warehouse of its own there."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sources.yaml").write_text(yaml.safe_dump(catalog), encoding="utf-8")
    state = root / "state"
    env = {
        **os.environ,
        "AI_ROI_SOURCES": str(root / "sources.yaml"),
        "AI_ROI_STATE_DIR": str(state),
        "AI_ROI_OUTPUT_DIR": str(root / "outputs"),
        "DAGSTER_HOME": str(state / "dagster_home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow' / 'mlflow.db'}",
        "AI_ROI_MLFLOW_ARTIFACTS": str(state / "mlflow" / "artifacts"),
    }
    for name in ("AI_ROI_DUCKDB_PATH", "AI_ROI_EXPORT_PATH"):
        env.pop(name, None)
    return env


def step_stats(dagster_home: Path, since: float) -> list:
    """Dagster's step statistics of every run started after `since`."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(
            dg.RunsFilter(created_after=datetime.fromtimestamp(since, UTC))
        )
        return [s for r in records for s in instance.get_run_step_stats(r.dagster_run.run_id)]


def step_times(dagster_home: Path, since: float) -> list[tuple[str, float]]:
    """(step, seconds) of every finished step of the runs started after `since`, longest first."""
    steps = [
        (s.step_key, s.end_time - s.start_time)
        for s in step_stats(dagster_home, since)
        if s.start_time and s.end_time
    ]
    return sorted(steps, key=lambda step: -step[1])


def timed_run(env: dict[str, str], label: str) -> float:
    started_at = time.time()
    start = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ai-roi")), "run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    lines = done.stdout.splitlines()
    # what was delivered and decided, then the end of the summary (models, reports)
    decided = [line for line in lines if " deliveries " in line or "REFUSED" in line]
    tail = "\n".join([*decided, *lines[-12:]])
    print(f"\n== {label}: exit {done.returncode} in {seconds:.1f} s\n{tail}", flush=True)
    steps = step_times(Path(env["DAGSTER_HOME"]), started_at)
    if steps:
        total = sum(seconds for _, seconds in steps)
        longest = ", ".join(f"{key} {seconds:.1f}" for key, seconds in steps[:10])
        print(f"  {len(steps)} steps, {total:.1f} s of step time; longest: {longest}", flush=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the bench folder")
    args = parser.parse_args()
    root = Path(os.environ.get("AI_ROI_BENCH_DIR") or tempfile.mkdtemp(prefix="ai_roi_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    product = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    sources = product["sources"]

    orders = cut_by_month(
        ORDERS,
        root / "landing" / "orders",
        "InvoiceDate",
        sources["order_lines"]["timestamp_format"],
    )
    events = cut_by_month(
        EVENTS,
        root / "landing" / "ticket_events",
        "sys_updated_at",
        sources["ticket_events"]["timestamp_format"],
    )
    # the export's last month is partial (its lines are held back as incomplete), so the new month
    # is the last complete one: the history ends the month before, the partial month never lands
    partial, held_back = orders[-1], orders[-2]
    shutil.rmtree(partial.parent)
    later = root / "later" / held_back.parent.name
    later.mkdir(parents=True)
    shutil.move(str(held_back), later / held_back.name)
    held_back.parent.rmdir()  # else the month's folder comes back inside the empty one
    print(
        f"{len(orders) - 2} monthly order files, {held_back.parent.name} held back as the new month"
        f" ({partial.parent.name}, partial, left out); {len(events)} monthly ticket-event files;"
        f" in {root}"
    )

    catalog = product_catalog()
    for name, folder in (("order_lines", "orders"), ("ticket_events", "ticket_events")):
        catalog["sources"][name]["delivery"] = "append"
        catalog["sources"][name]["files"] = [
            {"path": str(root / "landing" / folder / "month=*" / "*.csv.gz")}
        ]
    env = warehouse_env(root, catalog)

    full = timed_run(env, "full first run")
    unchanged = timed_run(env, "no change")
    shutil.move(str(later), root / "landing" / "orders" / later.name)
    new_month = timed_run(env, f"one new month ({later.name})")

    print("\n== figures")
    print(f"  full first run      {full:7.1f} s")
    print(f"  no-change run       {unchanged:7.1f} s   (goal <= 20 s)")
    print(
        f"  one new month       {new_month:7.1f} s   ratio to full {new_month / full:.2f}"
        " (goal <= 0.20)"
    )
    print("  (wall time of `ai-roi run`, Python start and Dagster's load included)")
    if not args.keep and "AI_ROI_BENCH_DIR" not in os.environ:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
