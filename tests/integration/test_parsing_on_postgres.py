"""Delivered text read as timestamps alike on DuckDB and PostgreSQL, and as Python reads it.

dbt/macros/parsing.sql's `parse_timestamp(value, format)` is compiled by dbt for each engine and
run over every distinct timestamp text of the real files (the UCI order lines, the ServiceNow
event log's five time columns) in the formats the source catalogue gives them, and over text
made to find the edges; each engine's answer is held to Python's `datetime.strptime`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml

from dagster_project.lib import postgres
from scripts import local_postgres
from tests.conftest import ROOT

CATALOG = yaml.safe_load((ROOT / "config" / "sources.yaml").read_text(encoding="utf-8"))
TICKET_TIMES = ("opened_at", "sys_created_at", "sys_updated_at", "resolved_at", "closed_at")
ISO = "%Y-%m-%d %H:%M:%S"
DAY_FIRST = "%d/%m/%Y %H:%M"
# (text, format): a day that does not exist, hours and seconds past the end, short and long
# years, year 0, padding, text after the value, letters in another case, whitespace runs
MADE = [
    ("29/2/2016 08:03", DAY_FIRST),
    ("29/2/2015 08:03", DAY_FIRST),
    ("31/4/2016 08:03", DAY_FIRST),
    ("30/2/2016 08:03", DAY_FIRST),
    ("1/13/2016 08:03", DAY_FIRST),
    ("0/01/2016 08:03", DAY_FIRST),
    (" 1/01/2016 08:03", DAY_FIRST),
    ("001/01/2016 08:03", DAY_FIRST),
    ("01/01/2016 8:3", DAY_FIRST),
    ("01/01/2016 24:00", DAY_FIRST),
    ("01/01/2016\t08:03", DAY_FIRST),
    ("01/01/2016   08:03", DAY_FIRST),
    ("01/01/201608:03", DAY_FIRST),
    ("01/01/2016 08:03:00", DAY_FIRST),
    ("01/01/10 08:03", DAY_FIRST),
    ("01/01/0000 08:03", DAY_FIRST),
    ("01/01/99999 08:03", DAY_FIRST),
    ("2010-12-1 8:26:00", ISO),
    ("2010-12-01 08:26:59", ISO),
    ("2010-12-01 08:26:60", ISO),
    ("2010-12-01 08:26:61", ISO),
    ("10-12-01 08:26:00", ISO),
    ("2010-12-01T08:26:00", ISO),
    ("2010-12-01 08:26:00x", ISO),
    ("2010-12-01t08:26:00", "%Y-%m-%dT%H:%M:%S"),
    ("2010-12-01T08:26:00", "%Y-%m-%dT%H:%M:%S"),
    ("20160229", "%Y%m%d"),
    ("2016111", "%Y%m%d"),
    ("100% 2016", "100%% %Y"),
    ("", ISO),
]


@pytest.fixture(scope="module")
def server():
    with local_postgres.running() as env:
        yield env


def _compiled(sql: str, target: list[str], env: dict[str, str], tmp: Path) -> str:
    """`sql` with its dbt macros compiled for a target."""
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--inline", sql, *target]
        + ["--profiles-dir", ".", "--target-path", str(tmp / "target"), "--log-path", str(tmp)]
        + ["--quiet"],
        cwd=ROOT / "dbt",
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def _python(value: str | None, fmt: str) -> datetime | None:
    """What Python's own strptime reads: the definition the macro keeps to."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        return None


def _real_values() -> dict[str, list[str]]:
    """Every distinct timestamp text of the real files, by the catalogue's format for it."""
    sources = CATALOG["sources"]
    orders = duckdb.sql(
        "select distinct InvoiceDate from read_csv($p, all_varchar = true)",
        params={"p": str(ROOT / "data" / "uci_online_retail" / "online_retail.csv.gz")},
    ).fetchall()
    union = " union ".join(f"select {c} as v from events" for c in TICKET_TIMES)
    tickets = duckdb.sql(
        f"with events as (select * from read_csv($p, all_varchar = true)) {union}",
        params={"p": str(ROOT / "data" / "incident_event_log" / "incident_event_log.csv.gz")},
    ).fetchall()
    values: dict[str, list[str]] = {}
    for fmt, rows in (
        (sources["order_lines"]["timestamp_format"], orders),
        (sources["ticket_events"]["timestamp_format"], tickets),
    ):
        values.setdefault(fmt, []).extend(v for (v,) in rows)
    for value, fmt in MADE:
        values.setdefault(fmt, []).append(value)
    return values


def test_timestamps_are_read_alike_on_both_engines_and_as_python_reads_them(server, tmp_path):
    values = _real_values()
    assert sum(len(v) for v in values.values()) > 20_000
    duck_env = {**os.environ, "AI_ROI_DUCKDB_PATH": str(tmp_path / "compile.duckdb")}
    pg_env = {**os.environ, **server}
    read_real = 0
    with (
        duckdb.connect() as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as connection,
    ):
        pg = postgres.Warehouse(connection)
        for n, (fmt, texts) in enumerate(values.items()):
            sql = f"select i, {{{{ parse_timestamp('v', '{fmt}') }}}} as t from parse_input order by i"
            (tmp_path / f"d{n}").mkdir()
            (tmp_path / f"p{n}").mkdir()
            on_duckdb = _compiled(sql, [], duck_env, tmp_path / f"d{n}")
            on_postgres = _compiled(sql, ["--target", "postgres"], pg_env, tmp_path / f"p{n}")
            duck.execute(
                "create or replace table parse_input as"
                " select * from unnest($v::varchar[]) with ordinality as u(v, i)",
                {"v": texts},
            )
            pg.execute("drop table if exists parse_input")
            pg.execute("create table parse_input (v text, i bigint)")
            pg.copy_rows("parse_input", ["v", "i"], duck.sql("select v, i from parse_input"))

            expected = [_python(text, fmt) for text in texts]
            by_duckdb = [t for _, t in duck.execute(on_duckdb).fetchall()]
            by_postgres = [t for _, t in pg.execute(on_postgres).fetchall()]
            wrong = [
                (text, want, d, p)
                for text, want, d, p in zip(texts, expected, by_duckdb, by_postgres, strict=True)
                if not (want == d == p)
            ]
            assert wrong == [], (fmt, wrong[:10])
            read_real += sum(t is not None for t in expected)
    assert read_real > 20_000  # the real values were read, not only found null alike


def test_a_directive_the_macro_does_not_read_stops_the_compile(tmp_path):
    env = {**os.environ, "AI_ROI_DUCKDB_PATH": str(tmp_path / "compile.duckdb")}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--inline"]
        + ["select {{ parse_timestamp('v', '%d %b %Y') }} as t from parse_input"]
        + ["--profiles-dir", ".", "--target-path", str(tmp_path / "target")]
        + ["--log-path", str(tmp_path), "--quiet"],
        cwd=ROOT / "dbt",
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert "not %b" in completed.stdout + completed.stderr
