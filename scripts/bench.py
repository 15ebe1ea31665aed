"""`make bench`: what each stage costs at 1x, 10x and 50x the real order lines, beside bare DuckDB.

For each scale the benchmark writes the embedded UCI Online Retail order lines that many times
into one CSV export (copy k: the digits of every invoice number raised by k million, every
timestamp moved k days later, so each copy's lines are new lines, not duplicates), and runs in a
warehouse of its own:

- at 1x, the whole pipeline (`ai-roi run`): the first run after install, embeddings and training
  included, then a run with nothing new;
- at 10x and 50x, the data side only (raw -> staged -> checks -> marts), the tickets and messages
  at 1x;
- beside each, one bare DuckDB script doing the same work by hand: load the file as delivered,
  count the failing rows of every rule the raw order lines' checks evaluate in one query, type,
  de-duplicate, split off the quarantine and build the order fact and the weekly demand table.

It prints one table and writes metrics/bench.json (under AI_ROI_OUTPUT_DIR): wall time, the
pipeline's step time per stage (from Dagster's event log), peak memory of each process, and the
ratio of the chain's data-side steps to the bare script. It asserts nothing: the goals are in the
README. `make bench QUICK=1` runs 1x only; the state goes to $AI_ROI_BENCH_DIR (default: a
temporary folder, removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from ai_roi import settings
from scripts.bench_incremental import (
    CATALOG,
    ORDERS,
    product_catalog,
    step_stats,
    warehouse_env,
)

DATA_SIDE = "group:raw or group:staged or group:stg or group:marts"
SCALES = (1, 10, 50)
# A child's peak resident memory, measured by a parent that does nothing else. On Linux the parent
# also samples the resident memory of the child's whole process tree (dbt runs in a subprocess of
# its own) every 0.2 s, with the time, into the file named by its first argument ("-" for none):
# the benchmark attributes each sample to the step running then.
MEASURE = (
    "import os, resource, subprocess, sys, tempfile, time\n"
    "def tree_rss(pid):\n"
    "    total, todo = 0, [pid]\n"
    "    while todo:\n"
    "        p = todo.pop()\n"
    "        try:\n"
    "            total += int(open(f'/proc/{p}/statm').read().split()[1]) * PAGE\n"
    "            for t in os.listdir(f'/proc/{p}/task'):\n"
    "                todo += map(int, open(f'/proc/{p}/task/{t}/children').read().split())\n"
    "        except (OSError, ValueError):\n"
    "            pass\n"
    "    return total\n"
    "PAGE = os.sysconf('SC_PAGE_SIZE')\n"
    "samples = sys.argv[1] != '-' and os.path.isdir('/proc') and open(sys.argv[1], 'w')\n"
    # the child's output goes to files: a pipe the sampling loop does not read would fill up
    "out, err = tempfile.TemporaryFile('w+'), tempfile.TemporaryFile('w+')\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=err, text=True)\n"
    "while True:\n"
    "    if samples:\n"
    "        samples.write(f'{time.time():.2f} {tree_rss(child.pid)}\\n')\n"
    "    try:\n"
    "        child.wait(timeout=0.2)  # returns the moment the child ends\n"
    "        break\n"
    "    except subprocess.TimeoutExpired:\n"
    "        pass\n"
    "seconds = time.perf_counter() - start\n"
    "if samples:\n"
    "    samples.close()\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "out.seek(0), err.seek(0)\n"
    "sys.stdout.write(out.read())\n"
    "sys.stderr.write(err.read())\n"
    "print(f'BENCH {seconds} {peak} {child.returncode}')\n"
)


def scaled_orders(
    source: Path,
    dest: Path,
    copies: int,
    timestamp_format: str,
    invoice: str = "InvoiceNo",
    timestamp: str = "InvoiceDate",
) -> int:
    """`copies` shifted copies of the order export in one gzip CSV; the number of lines written.

    Copy k raises the digits at the end of every invoice number by k million (a prefix such as
    a cancellation's stays) and moves every timestamp k days later; the other columns are the
    export's own. `invoice` and `timestamp` name the export's columns (the catalogue's mapping).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    inv, ts = f'"{invoice}"', f'"{timestamp}"'
    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                with export as (
                    select *, row_number() over () as _line from read_csv($src, all_varchar = true)
                )
                select * exclude (k, _line) replace (
                    case
                        when regexp_matches({inv}, '\\d+$') then
                            regexp_extract({inv}, '^(.*?)\\d+$', 1)
                            || (regexp_extract({inv}, '\\d+$')::hugeint + k * 1000000)::varchar
                        else {inv} || '-' || k
                    end as {inv},
                    coalesce(
                        strftime(try_strptime({ts}, $fmt) + to_days(k::int), $fmt), {ts}
                    ) as {ts}
                )
                from export, range($copies) as copy(k)
                order by k, _line
            ) to '{dest}' (format csv, header, compression gzip)
            """,
            {"src": str(source), "copies": copies, "fmt": timestamp_format},
        )
        return con.execute(
            "select count(*) from read_csv($dest, all_varchar = true)", {"dest": str(dest)}
        ).fetchone()[0]


BARE_SQL = """
-- the export as delivered: every value text, under the pipeline's column names
create or replace table raw as
select $raw_columns from read_csv($src, all_varchar = true);

-- the same rules the raw order lines' Pandera checks evaluate (defs/orders/schemas.RAW_RULES),
-- one count of failing rows per check, named as the check reports it (a unit test compares
-- them with the checks' own counts: tests/unit/test_bench.py)
create or replace table rules as
with parsed as (
    select
        *,
        try_cast(trim(quantity) as bigint) as q,
        try_cast(trim(unit_price) as double) as p,
        try_strptime(trim(invoice_date), $fmt) as ts,
        regexp_matches(stock_code, $pattern) as is_product
    from raw
),
copies as (
    select count(*) as n from raw group by $contract having count(*) > 1
),
-- the groups of a one-value-per-key rule holding more than one value (a null counts as one)
stock_codes as (  -- rows without a stock code are one group too
    select stock_code as code_of_many, true as many from raw
    group by stock_code having count(distinct description) > 1
),
descriptions as (
    select description from raw where description is not null
    group by description
    having count(distinct stock_code) + max((stock_code is null)::int) > 1
),
customers as (
    select customer_id from raw where customer_id is not null
    group by customer_id
    having count(distinct country) + max((country is null)::int) > 1
),
newest as (
    select max(ts) as newest from parsed
)
select
    count(*) filter (where not (customer_id is not null and trim(customer_id) <> ''
        and not list_contains($missing, trim(customer_id))))
        as "customer_id_present:customer_id",
    count(*) filter (where not (description is not null and trim(description) <> ''
        and not list_contains($missing, trim(description))))
        as "description_present:description",
    (select coalesce(sum(n), 0) from copies) as order_line_is_unique,
    count(*) filter (where q is null) as "quantity_is_integer:quantity",
    count(*) filter (where q <= 0) as "quantity_is_positive:quantity",
    count(*) filter (where q < 0 and not starts_with(invoice_no, $prefix))
        as negative_quantity_only_on_cancellations,
    count(*) filter (where abs(q) > $max_abs_quantity)
        as "quantity_within_plausible_range:quantity",
    count(*) filter (where p is null) as "unit_price_is_numeric:unit_price",
    count(*) filter (where p = 0) as "unit_price_not_zero:unit_price",
    count(*) filter (where p < 0) as "unit_price_not_negative:unit_price",
    count(*) filter (where p > $max_unit_price) as "unit_price_within_plausible_range:unit_price",
    count(*) filter (where not is_product) as "stock_code_is_product:stock_code",
    count(*) filter (where is_product and regexp_matches(stock_code, '[a-z]'))
        as product_code_is_uppercase,
    count(*) filter (where description <> trim(description))
        as "description_is_trimmed:description",
    count(*) filter (where not regexp_matches(description, '[A-Z]'))
        as "description_has_uppercase:description",
    count(*) filter (where many) as stock_code_has_one_description,
    count(*) filter (where description in (select description from descriptions))
        as description_has_one_stock_code,
    count(*) filter (where customer_id in (select customer_id from customers))
        as customer_has_one_country,
    count(*) filter (where list_contains($country_labels, country))
        as "country_is_recognised:country",
    count(*) filter (where ts is null) as "invoice_date_parses:invoice_date",
    count(*) filter (where ts < $earliest::timestamp or ts > now()::timestamp)
        as invoice_date_in_valid_range,
    count(*) filter (where date_trunc('month', ts) = date_trunc('month', newest)
        and newest::date < last_day(newest)) as invoice_month_is_complete
from parsed
left join stock_codes on parsed.stock_code is not distinct from code_of_many,
newest;

create or replace table lines as
select
    invoice_no,
    stock_code,
    trim(description) as description,
    try_cast(trim(quantity) as bigint) as quantity,
    try_strptime(trim(invoice_date), $fmt) as invoiced_at,
    try_cast(trim(unit_price) as decimal(18, 4)) as unit_price,
    customer_id,
    country
from raw;

create or replace table unique_lines as
select distinct * from lines;

create or replace table quarantine as
select * from unique_lines
where quantity is null or invoiced_at is null or unit_price is null or unit_price < 0
    or abs(quantity) > $max_plausible_quantity
    or (quantity <= 0 and not starts_with(invoice_no, $prefix));

create or replace table fct_order_lines as
select
    *,
    starts_with(invoice_no, $prefix) as is_cancellation,
    quantity * unit_price as line_amount,
    date_trunc('week', invoiced_at) as week_start
from unique_lines
where not (quantity is null or invoiced_at is null or unit_price is null or unit_price < 0
    or abs(quantity) > $max_plausible_quantity
    or (quantity <= 0 and not starts_with(invoice_no, $prefix)));

create or replace table mart_demand_weekly as
select stock_code, week_start, sum(quantity) as units_sold, sum(line_amount) as gross_revenue
from fct_order_lines
where regexp_matches(stock_code, $pattern)
group by all;
"""


def _literal(value) -> str:
    """A value written into the bare script as a SQL literal: text quoted, a list as a list."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]::varchar[]"
    if isinstance(value, int | float):
        return repr(value)
    return "'{}'".format(str(value).replace("'", "''"))


def bare_script(orders: Path, timestamp_format: str) -> str:
    """The bare DuckDB script for `orders`, with the product catalogue's settings of the order
    lines (the ones its rules read) written in as literals."""
    from ai_roi.lib.warehouse import quote_ident
    from ai_roi.sources import load_catalog

    cfg = load_catalog(CATALOG).order_lines
    raw_columns = ", ".join(
        f"{quote_ident(file)} as {column}" for column, file in cfg.columns.items()
    )
    values = {
        "$raw_columns": raw_columns,
        "$contract": ", ".join(cfg.contract),
        "$src": _literal(str(orders)),
        "$fmt": _literal(timestamp_format),
        "$pattern": _literal(cfg.product_code_pattern),
        "$prefix": _literal(cfg.cancellation_prefix),
        "$missing": _literal(cfg.missing_values),
        "$country_labels": _literal([*cfg.country_aliases, *cfg.unknown_country_labels]),
        "$max_abs_quantity": _literal(cfg.max_abs_quantity),
        "$max_plausible_quantity": _literal(cfg.max_plausible_quantity),
        "$max_unit_price": _literal(cfg.max_unit_price),
        "$earliest": _literal(cfg.earliest_valid_date.isoformat()),
    }
    script = BARE_SQL
    # longest names first: $max_abs_quantity is not $max_a... of another
    for name in sorted(values, key=len, reverse=True):
        script = script.replace(name, values[name])
    return script


# runs the bare script in a process that imports nothing but DuckDB, timing each table it makes
RUN_BARE = (
    "import duckdb, json, re, sys, time\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "seconds = {}\n"
    "for statement in filter(str.strip, open(sys.argv[2]).read().split(';')):\n"
    "    start = time.perf_counter()\n"
    "    con.execute(statement)\n"
    "    table = re.search(r'create or replace table (\\w+)', statement).group(1)\n"
    "    seconds[table] = round(time.perf_counter() - start, 3)\n"
    "open(sys.argv[3], 'w').write(json.dumps(seconds))\n"
)


def measured(command: list[str], env: dict[str, str], samples: Path | None = None) -> dict:
    """Wall seconds, peak resident memory (GiB) and exit code of `command` in its own process;
    with `samples`, the process tree's memory over time is written there (see MEASURE)."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(samples or "-"), *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    last = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")][-1].split()
    result = {
        "seconds": round(float(last[1]), 2),
        "peak_gib": round(int(last[2]) / 1024**2, 2),
        "exit_code": int(last[3]),
    }
    if result["exit_code"]:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return result


def stage_of(step: str) -> str:
    if step.endswith(("_checks", "_monitors", "_pii_scan")) or "_clears_" in step:
        return "checks"
    if step.startswith("raw__"):
        return "raw"
    if step.startswith("staged__"):
        return "staged"
    if step in {"dbt_models", "monthly_marts"}:
        return "marts"
    if step.startswith("ml__"):
        return "ml"
    return "roi, reports, governance"


def per_stage(steps: list[tuple[str, float]]) -> dict[str, float]:
    stages: dict[str, float] = {}
    for step, seconds in steps:
        stage = stage_of(step)
        stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
    return stages


def step_peaks(steps: list[tuple[str, float, float]], samples: Path) -> dict[str, float]:
    """Peak resident memory (GiB) of the run's process tree while each step ran, from the
    samples of `measured` and the steps' (name, start, end) times."""
    if not samples.exists():
        return {}
    points = [tuple(map(float, line.split())) for line in samples.read_text().splitlines()]
    peaks: dict[str, float] = {}
    for step, start, end in steps:
        during = [rss for at, rss in points if start <= at <= end]
        if during:
            peaks[step] = max(peaks.get(step, 0.0), round(max(during) / 1024**3, 2))
    return peaks


def stage_peaks(peaks: dict[str, float]) -> dict[str, float]:
    """The heaviest step of each stage (`step_peaks`)."""
    stages: dict[str, float] = {}
    for step, gib in peaks.items():
        stages[stage_of(step)] = max(stages.get(stage_of(step), 0.0), gib)
    return stages


def scaled_catalog(orders: Path, copies: int) -> dict:
    """The product's catalogue reading `orders`, its freshness judged at the last copy's end."""
    catalog = product_catalog()
    source = catalog["sources"]["order_lines"]
    source["files"] = [{"path": str(orders)}]
    if source["freshness"].get("as_of"):  # the last copy ends copies - 1 days after the export
        source["freshness"]["as_of"] += timedelta(days=copies - 1)
    return catalog


def bench_scale(root: Path, scale: int, timestamp_format: str) -> dict:
    folder = root / f"x{scale}"
    orders = folder / "landing" / "online_retail.csv.gz"
    lines = scaled_orders(ORDERS, orders, scale, timestamp_format)
    env = warehouse_env(folder, scaled_catalog(orders, scale))
    cli = str(Path(sys.executable).with_name("ai-roi"))
    whole = scale == 1
    started = time.time()
    samples = folder / "memory_samples.txt"
    run = measured(
        [cli, "run"] if whole else [cli, "run", "--select", DATA_SIDE], env, samples=samples
    )
    # one read of the event log: finished steps for the figures, unfinished ones for a failure
    stats = step_stats(Path(env["DAGSTER_HOME"]), started)
    spans = [(x.step_key, x.start_time, x.end_time) for x in stats if x.start_time and x.end_time]
    steps = [(step, end - start) for step, start, end in spans]
    peaks = step_peaks(spans, samples)
    stages = per_stage(steps)
    data_side = round(sum(stages.get(s, 0.0) for s in ("raw", "staged", "checks", "marts")), 2)
    script = folder / "bare.sql"
    script.write_text(bare_script(orders, timestamp_format), encoding="utf-8")
    timings = folder / "bare_seconds.json"
    bare = measured(
        [sys.executable, "-c", RUN_BARE, str(folder / "bare.duckdb"), str(script), str(timings)],
        env,
    )
    bare["seconds_by_table"] = json.loads(timings.read_text()) if timings.exists() else {}
    order_checks = {k: round(v, 2) for k, v in steps if k.endswith("order_lines_checks")}
    rules = bare["seconds_by_table"].get("rules")
    figures = {
        "scale": scale,
        "order_lines": lines,
        "selection": "everything" if whole else DATA_SIDE,
        "run": run,
        "step_seconds_by_stage": stages,
        # the heaviest step of each stage: where the run's peak memory comes from
        "peak_gib_by_stage": stage_peaks(peaks),
        "heaviest_steps_gib": dict(sorted(peaks.items(), key=lambda kv: -kv[1])[:5]),
        "data_side_step_seconds": data_side,
        "bare_duckdb": bare,
        # the order lines' Pandera check steps beside one DuckDB query counting the failing rows
        # of the raw checks' rules over the raw lines (the ratio: the raw step to that query)
        "order_lines_check_steps": order_checks,
        "raw_checks_ratio_to_bare_rules": (
            round(order_checks["raw_order_lines_checks"] / rules, 2)
            if rules and "raw_order_lines_checks" in order_checks
            else None
        ),
        # a run that did not finish has no data-side time to compare
        "data_side_ratio_to_bare": (
            round(data_side / bare["seconds"], 2)
            if bare["seconds"] and not run["exit_code"]
            else None
        ),
    }
    if run["exit_code"]:
        figures["failed"] = (
            f"exit {run['exit_code']}"
            + (" (killed: out of memory)" if run["exit_code"] == -9 else "")
            + " during "
            + (", ".join(x.step_key for x in stats if x.start_time and not x.end_time) or "?")
        )
    if whole:
        figures["no_change_run"] = measured([cli, "run"], env)
    return figures


def fixed_costs() -> dict:
    """Interpreter + definitions load, in a fresh process."""
    load = measured(
        [sys.executable, "-c", "import ai_roi.definitions as d; d.defs"], dict(os.environ)
    )
    return {"definitions_load": load}


def order_timestamp_format() -> str:
    """How the product's catalogue reads the order lines' timestamps (the scaled copies keep it)."""
    catalog = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    return catalog["sources"]["order_lines"]["timestamp_format"]


def measure_and_write(
    results: dict, scales, bench_scale, print_row, header: str, name: str, keep: bool = False
) -> Path:
    """`bench_scale(root, scale, timestamp_format)` for each scale in a bench folder
    ($AI_ROI_BENCH_DIR, else a temporary one removed afterwards unless `keep`), printing each
    row as it comes, into results["scales"]; the whole written to metrics/`name` under
    AI_ROI_OUTPUT_DIR."""
    root = Path(os.environ.get("AI_ROI_BENCH_DIR") or tempfile.mkdtemp(prefix="ai_roi_bench_"))
    timestamp_format = order_timestamp_format()
    print(header, flush=True)
    for scale in scales:
        results["scales"].append(bench_scale(root, scale, timestamp_format))
        print_row(results["scales"][-1])
    out = settings.output_dir() / "metrics" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nwritten: {out}")
    if not keep and "AI_ROI_BENCH_DIR" not in os.environ:
        shutil.rmtree(root, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1x only")
    parser.add_argument("--keep", action="store_true", help="keep the bench folder")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("QUICK") not in (None, "", "0")
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3),
            "python": platform.python_version(),
        },
        "fixed": fixed_costs(),
        "scales": [],
    }
    load = results["fixed"]["definitions_load"]
    print(f"interpreter + definitions load {load['seconds']:.1f} s, {load['peak_gib']:.2f} GiB")
    scales = (1,) if quick else SCALES
    measure_and_write(results, scales, bench_scale, print_row, HEADER, "bench.json", args.keep)


HEADER = (
    f"{'scale':>5} {'lines':>11} {'run s':>8} {'peak GiB':>8} {'data-side steps s':>17} "
    f"{'bare s':>7} {'bare GiB':>8} {'ratio':>6} {'checks/rules':>12}  stages (step seconds)"
)


def print_row(s: dict) -> None:
    stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(s["step_seconds_by_stage"].items()))
    ratio = s["data_side_ratio_to_bare"]
    checks = s["raw_checks_ratio_to_bare_rules"]
    print(
        f"{s['scale']:>4}x {s['order_lines']:>11,} {s['run']['seconds']:>8.1f} "
        f"{s['run']['peak_gib']:>8.2f} {s['data_side_step_seconds']:>17.1f} "
        f"{s['bare_duckdb']['seconds']:>7.1f} {s['bare_duckdb']['peak_gib']:>8.2f} "
        f"{'-' if ratio is None else f'{ratio:.2f}':>6} "
        f"{'-' if checks is None else f'{checks:.2f}':>12}  {stages}",
        flush=True,
    )
    if s.get("peak_gib_by_stage"):
        peaks = ", ".join(f"{k} {v:.2f}" for k, v in sorted(s["peak_gib_by_stage"].items()))
        heaviest = ", ".join(f"{k} {v:.2f}" for k, v in s["heaviest_steps_gib"].items())
        print(f"      peak GiB by stage: {peaks}; heaviest steps: {heaviest}", flush=True)
    if "failed" in s:
        print(f"      FAILED: {s['failed']}", flush=True)
    if "no_change_run" in s:
        print(
            f"      no-change run {s['no_change_run']['seconds']:.1f} s; the 1x run above is the "
            "whole pipeline, the first run after install",
            flush=True,
        )


if __name__ == "__main__":
    main()
