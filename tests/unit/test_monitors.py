"""Each monitor fires on crafted data and stays quiet on normal data."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

from ai_roi.lib import monitors
from ai_roi.lib.warehouse import load_source
from ai_roi.params import VolumeParams
from ai_roi.sources import Freshness, load_catalog
from tests.conftest import FIXTURES, PRODUCT_PARAMS, catalog_dict

VOLUME = VolumeParams(**PRODUCT_PARAMS["quality"]["volume"])


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        yield connection


def _lines() -> list[str]:
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        return handle.readlines()


def _config(tmp_path: Path, path: Path, **fields):
    catalog = catalog_dict(files={"order_lines": [{"path": str(path)}]}, order_lines=fields)
    cat_path = tmp_path / "sources.yaml"
    cat_path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return load_catalog(cat_path).order_lines


def _deliver(con, tmp_path, name: str, lines: list[str], **fields):
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    config = _config(tmp_path, path, **fields)
    load_source(con, "order_lines", config, name)
    return config


# ---------------------------------------------------------------- volume


def test_band_needs_history_and_never_flags_tiny_changes():
    assert monitors.robust_band([100, 100], VOLUME) is None
    band = monitors.robust_band([100, 100, 100, 100], VOLUME)
    assert band.low < 95 and band.high > 105  # min_change keeps a flat history from flagging 1 %


def test_delivery_volume_quiet_on_similar_loads_and_fires_on_a_collapse(con, tmp_path):
    lines = _lines()
    header, body = lines[0], lines[1:]
    for i in range(4):  # four earlier deliveries of about the same size, each a little different
        _deliver(con, tmp_path, f"d{i}.csv", [header, *body[i : 400 + i]])
    _deliver(con, tmp_path, "normal.csv", [header, *body[10:405]])
    quiet = monitors.load_volume(con, "order_lines", VOLUME)
    assert quiet.passed, quiet.summary

    _deliver(con, tmp_path, "collapsed.csv", [header, *body[:40]])
    fired = monitors.load_volume(con, "order_lines", VOLUME)
    assert not fired.passed
    assert "40 rows" in fired.summary and fired.table[0]["status"] == "too few"


def test_delivery_volume_with_short_history_is_recorded_not_judged(con, tmp_path):
    lines = _lines()
    _deliver(con, tmp_path, "a.csv", lines[:300])
    _deliver(con, tmp_path, "b.csv", [lines[0], *lines[1:20]])
    finding = monitors.load_volume(con, "order_lines", VOLUME)
    assert finding.passed and "not judged" in finding.summary


def _events(con, per_month: dict[str, int]) -> None:
    con.execute("create or replace table events (event_at timestamp)")
    rows = []
    for month, n in per_month.items():
        start = datetime.fromisoformat(f"{month}-01")
        last_day = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        span = (last_day - start).days
        rows += [start + timedelta(days=i * span / max(n - 1, 1)) for i in range(n)]
    # one statement: executemany inserts row by row (about 0.2 ms a row)
    con.execute("insert into events select unnest($rows)", {"rows": rows})


def _months(start: str, count: int) -> list[str]:
    year, month = map(int, start.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def test_monthly_volume_fires_on_a_missing_month_of_data(con):
    months = _months("2023-01", 12)
    rng = np.random.default_rng(0)
    normal = {m: int(rng.integers(900, 1100)) for m in months}
    _events(con, normal)
    assert monitors.monthly_volume(con, "events", "event_at", VOLUME).passed

    _events(con, {**normal, months[6]: 60})  # most of July lost in the export
    fired = monitors.monthly_volume(con, "events", "event_at", VOLUME)
    assert not fired.passed and months[6] in fired.summary


def test_monthly_volume_uses_last_year_where_two_years_exist(con):
    months = _months("2022-01", 24)
    # strong December peak every year: seasonal, not an anomaly
    counts = {m: (3000 if m.endswith("-12") else 1000) for m in months}
    _events(con, counts)
    finding = monitors.monthly_volume(con, "events", "event_at", VOLUME)
    assert finding.passed, finding.summary
    assert finding.observed["method"] == "same month a year earlier"


def test_partial_last_month_is_not_judged(con):
    _events(con, {m: 1000 for m in _months("2023-01", 6)})
    con.execute("delete from events where event_at > '2023-06-05'")
    finding = monitors.monthly_volume(con, "events", "event_at", VOLUME)
    assert finding.passed
    june = next(r for r in finding.table if r["for"] == "2023-06")
    assert june["status"] == "not judged"


# ---------------------------------------------------------------- freshness


def test_freshness_as_of_the_data_sets_end_and_stale_data(con):
    con.execute("create table events as select timestamp '2011-12-09 12:50' as event_at")
    on_time = monitors.freshness(
        con, "events", "event_at", Freshness(max_lag_hours=48, as_of=datetime(2011, 12, 10))
    )
    assert on_time.passed and on_time.observed["lag_hours"] == pytest.approx(11.2)
    stale = monitors.freshness(
        con, "events", "event_at", Freshness(max_lag_hours=48, as_of=datetime(2011, 12, 20))
    )
    assert not stale.passed and "beyond" in stale.summary
    judged_now = monitors.freshness(con, "events", "event_at", Freshness(max_lag_hours=48))
    assert not judged_now.passed and judged_now.observed["as_of_source"] == "now"


def test_events_after_the_as_of_date_are_flagged(con):
    con.execute("create table events as select timestamp '2030-01-01' as event_at")
    finding = monitors.freshness(
        con, "events", "event_at", Freshness(max_lag_hours=48, as_of=datetime(2025, 1, 1))
    )
    assert not finding.passed and "after as-of" in finding.summary


# ---------------------------------------------------------------- schema change


def test_first_delivery_is_the_baseline_and_the_same_schema_passes(con, tmp_path):
    lines = _lines()[:200]
    config = _deliver(con, tmp_path, "a.csv", lines)
    assert monitors.schema_change(con, "order_lines", config).passed
    config = _deliver(con, tmp_path, "b.csv", [lines[0], *lines[5:]])
    finding = monitors.schema_change(con, "order_lines", config)
    assert finding.passed and finding.observed["changes"] == 0


def test_new_column_blocks_until_accepted_in_the_catalogue(con, tmp_path):
    lines = _lines()[:200]
    config = _deliver(con, tmp_path, "a.csv", lines)
    monitors.schema_change(con, "order_lines", config)
    extra = [lines[0].rstrip("\n") + ",Discount\n"] + [ln.rstrip("\n") + ",0\n" for ln in lines[1:]]
    config = _deliver(con, tmp_path, "b.csv", extra)
    blocked = monitors.schema_change(con, "order_lines", config)
    assert not blocked.passed
    assert "new Discount" in blocked.summary
    assert "sources.order_lines.accepted_schema_changes" in blocked.summary

    accepted = monitors.schema_change(
        con, "order_lines", config.model_copy(update={"accepted_schema_changes": ["Discount"]})
    )
    assert accepted.passed and accepted.observed["changes"] == 1


def test_retyped_column_blocks(con, tmp_path):
    lines = _lines()[:200]
    config = _deliver(con, tmp_path, "a.csv", lines)
    monitors.schema_change(con, "order_lines", config)
    header = lines[0].rstrip("\n").split(",")
    price = header.index("UnitPrice")
    text_prices = [lines[0]]
    for line in lines[1:]:
        cells = line.rstrip("\n").split(",")
        if len(cells) == len(header):  # lines without quoted commas
            cells[price] = f"GBP {cells[price]}"
            text_prices.append(",".join(cells) + "\n")
    config = _deliver(con, tmp_path, "b.csv", text_prices)
    finding = monitors.schema_change(con, "order_lines", config)
    assert not finding.passed and "retyped UnitPrice (number → text)" in finding.summary


def test_rename_accepted_by_the_mapping(con, tmp_path):
    lines = _lines()[:200]
    config = _deliver(con, tmp_path, "a.csv", lines)
    monitors.schema_change(con, "order_lines", config)
    renamed = [lines[0].replace("CustomerID", "Customer ID"), *lines[1:]]
    mapping = {**config.columns, "customer_id": "Customer ID"}
    config = _deliver(con, tmp_path, "b.csv", renamed, columns=mapping)
    finding = monitors.schema_change(con, "order_lines", config)
    assert finding.passed, finding.summary
    assert finding.table[0]["change"] == "renamed" and finding.table[0]["by"] == "column mapping"


def test_a_marts_column_schema_is_judged_against_its_previous_build():
    columns = {"stock_code": "VARCHAR", "week_start": "DATE", "units": "BIGINT"}
    assert monitors.column_schema_change(None, columns, "marts/m").passed  # nothing to compare
    assert monitors.column_schema_change(dict(columns), columns, "marts/m").passed
    assert not monitors.column_schema_change(columns, None, "marts/m").passed
    changed = {"stock_code": "VARCHAR", "week_start": "TIMESTAMP", "net_units": "BIGINT"}
    finding = monitors.column_schema_change(columns, changed, "marts/m")
    assert not finding.passed
    assert {(d["change"], d["column"]) for d in finding.table} == {
        ("retyped", "week_start"),
        ("missing", "units"),
        ("new", "net_units"),
    }
    assert "units" in finding.summary and "week_start" in finding.summary
