"""Delivered text read as timestamps alike on DuckDB and PostgreSQL, and as Python reads it.

dbt/macros/parsing.sql's `parse_timestamp(value, format)` is compiled by dbt for each engine and
run over every distinct timestamp text of the real files (the UCI order lines, the ServiceNow
event log's five time columns) in the formats the source catalogue gives them, and over text
made to find the edges; each engine's answer is held to Python's `datetime.strptime`.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import yaml

from ai_roi.lib import postgres
from scripts import local_postgres
from tests.conftest import ROOT, dbt_inline

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


def _compiled(sql: str, target: list[str], env: dict[str, str], tmp: Path) -> str:
    """`sql` with its dbt macros compiled for a target."""
    code, answer, said = dbt_inline("compile", sql, target, env, tmp)
    assert code == 0, said
    return answer["compiled"]


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


def _both(server, tmp_path: Path, dbt_sql: str, columns: dict[str, list]) -> tuple[list, list]:
    """`dbt_sql` compiled by dbt for each engine and run over a table `parse_input` of
    `columns` (text, or integers) in each: (DuckDB's rows, PostgreSQL's rows)."""
    frame = pa.table(columns)
    types = ", ".join(
        f"{name} {'text' if pa.types.is_string(kind) else 'bigint'}"
        for name, kind in zip(frame.column_names, frame.schema.types, strict=True)
    )
    for engine in ("duckdb", "postgres"):
        (tmp_path / engine).mkdir(exist_ok=True)
    duck_env = {**os.environ, "AI_ROI_DUCKDB_PATH": str(tmp_path / "compile.duckdb")}
    on_duckdb = _compiled(dbt_sql, [], duck_env, tmp_path / "duckdb")
    on_postgres = _compiled(
        dbt_sql, ["--target", "postgres"], {**os.environ, **server}, tmp_path / "postgres"
    )
    with (
        duckdb.connect() as duck,
        psycopg.connect(**local_postgres.connect_args(server)) as connection,
    ):
        duck.register("incoming", frame)
        duck.execute("create table parse_input as select * from incoming")
        pg = postgres.Warehouse(connection)
        pg.execute("drop table if exists parse_input")
        pg.execute(f"create table parse_input ({types})")
        pg.copy_rows("parse_input", frame.column_names, duck.sql("select * from parse_input"))
        return duck.execute(on_duckdb).fetchall(), pg.execute(on_postgres).fetchall()


def test_timestamps_are_read_alike_on_both_engines_and_as_python_reads_them(server, tmp_path):
    values = _real_values()
    formats = list(values)
    texts = [text for fmt in formats for text in values[fmt]]
    used = [n for n, fmt in enumerate(formats) for _ in values[fmt]]
    assert len(texts) > 20_000
    # one compile per engine: a case per format
    cases = " ".join(
        f"when {n} then {{{{ parse_timestamp('v', '{fmt}') }}}}" for n, fmt in enumerate(formats)
    )
    by_duckdb, by_postgres = _both(
        server,
        tmp_path,
        f"select i, case f {cases} end as t from parse_input order by i",
        {"v": texts, "f": used, "i": list(range(len(texts)))},
    )
    expected = [_python(text, formats[n]) for text, n in zip(texts, used, strict=True)]
    wrong = [
        (text, formats[n], want, d, p)
        for text, n, want, (_, d), (_, p) in zip(
            texts, used, expected, by_duckdb, by_postgres, strict=True
        )
        if not (want == d == p)
    ]
    assert wrong == [], wrong[:10]
    # the real values were read, not only found null alike
    assert sum(t is not None for t in expected) > 20_000


def test_a_directive_the_macro_does_not_read_stops_the_compile(tmp_path):
    env = {**os.environ, "AI_ROI_DUCKDB_PATH": str(tmp_path / "compile.duckdb")}
    sql = "select {{ parse_timestamp('v', '%d %b %Y') }} as t from parse_input"
    code, _, said = dbt_inline("compile", sql, [], env, tmp_path)
    assert code != 0
    assert "not %b" in said


# made text for the staging macros: numbers a cast would read wrongly or round, whitespace other
# than spaces, missing tokens, flag spellings, digits that are not ASCII
MADE_TEXT = [
    *("1.5", "1e3", "1,000", "NaN", "inf", "+7", "-0", "12.000", "12.", ".5", "-.25", "5.0"),
    *("1234567890123456789", "123456789012345678", "12345678901234.1234", "123456789012345.0"),
    *("12.34567", " 12", "0x10", "\uff11\uff12", "\u0661\u0662"),
    *("\t x \n", "", " ", "?", " ? ", "NA", "\u00a0x\u00a0", "x\u200b", "\r\n"),
    *("true", "TRUE", "True", "1", "yes", "Y", "t", "false", "0", "no", "n", "F", "truee"),
]
MISSING = ["?", "NA"]
TRUE_VALUES, FALSE_VALUES = ["true", "1", "yes", "y", "t"], ["false", "0", "no", "n", "f"]


def _distinct_values() -> list[str | None]:
    """Every distinct value of every column of the three real files, and MADE_TEXT."""
    files = [
        ROOT / "data" / "uci_online_retail" / "online_retail.csv.gz",
        ROOT / "data" / "incident_event_log" / "incident_event_log.csv.gz",
        ROOT / "data" / "banking77" / "train.csv.gz",
    ]
    values: set[str | None] = set(MADE_TEXT)
    for path in files:
        rel = duckdb.sql("select * from read_csv($p, all_varchar = true)", params={"p": str(path)})
        for column in rel.columns:
            values.update(v for (v,) in rel.select(f'"{column}"').distinct().fetchall())
    return sorted(values, key=lambda v: (v is None, v or ""))


def _python_reading(value: str | None) -> dict:
    """What the staging's text macros are documented to give (dbt/macros/parsing.sql), written
    with Python's own string methods, regular expressions, int and Decimal."""
    if value is None:
        return dict.fromkeys(("clean", "integer", "decimal", "flag", "trimmed"))
    trimmed = value.strip("\t\n\f\r ")
    integer = None
    if re.fullmatch(r"[+-]?[0-9]{1,18}(\.0+)?", value):
        integer = int(value.split(".")[0])
    decimal = None
    if re.fullmatch(r"[+-]?([0-9]{1,14}(\.[0-9]{0,4})?|\.[0-9]{1,4})", value):
        decimal = Decimal(value)
    lowered = value.lower()
    flag = True if lowered in TRUE_VALUES else False if lowered in FALSE_VALUES else None
    return {
        "clean": None if trimmed == "" or trimmed in MISSING else trimmed,
        "integer": integer,
        "decimal": decimal,
        "flag": flag,
        "trimmed": trimmed,
    }


def test_staging_text_macros_read_text_alike_on_both_engines_and_as_documented(server, tmp_path):
    """clean_text, parse_integer, parse_decimal, parse_flag and trim_space, which the staging
    queries read every delivered value with: on every distinct value of the real files, DuckDB
    and PostgreSQL give the same, and what the macros say they give (`_python_reading`)."""
    texts = _distinct_values()
    assert len(texts) > 100_000
    expressions = {
        "clean": f"clean_text('v', {MISSING})",
        "integer": "parse_integer('v')",
        "decimal": "parse_decimal('v')",
        "flag": f"parse_flag('v', {TRUE_VALUES}, {FALSE_VALUES})",
        "trimmed": "trim_space('v')",
    }
    dbt_sql = (
        "select i, "
        + ", ".join(f"{{{{ {expression} }}}} as {name}" for name, expression in expressions.items())
        + " from parse_input order by i"
    )
    columns = {"v": texts, "i": list(range(1, len(texts) + 1))}
    on_duckdb, on_postgres = _both(server, tmp_path, dbt_sql, columns)

    assert len(on_duckdb) == len(on_postgres) == len(texts)
    names = ["i", *expressions]
    for duck_row, pg_row in zip(on_duckdb, on_postgres, strict=True):
        text = texts[duck_row[0] - 1]
        expected = (duck_row[0], *_python_reading(text).values())
        assert duck_row == pg_row == expected, (
            text,
            dict(zip(names, zip(duck_row, pg_row, expected, strict=True), strict=True)),
        )
    # the values were read, not only found null alike
    assert sum(row[2] is not None for row in on_duckdb) > 1_000
    assert sum(row[3] is not None for row in on_duckdb) > 1_000
    assert {row[4] for row in on_duckdb} == {True, False, None}


ROWS = [("abc", None, "de"), (None, None, None), ("", "\u00e9\u00e9", "x"), ("-5", "0", "12345")]


def test_a_rows_broken_rules_and_longest_value_are_the_same_on_both_engines(server, tmp_path):
    """The rules a row breaks, in order, nulls left out (an empty list counts 0: PostgreSQL's
    array_length of an empty array is null), and the longest of its values."""
    rules = [
        "case when a is null then 'a_missing' end",
        "case when b is null then 'b_missing' end",
        "case when cast(length(c) as integer) > 2 then 'c_too_long' end",
    ]
    dbt_sql = (
        "select i, {{ longest_value(['a', 'b', 'c']) }} as longest,"
        " {{ rules_broken(broken_rules(" + str(rules) + ")) }} as broken,"
        " (" + "{{ broken_rules(" + str(rules) + ") }}" + ")[1] as first_rule"
        " from parse_input order by i"
    )
    columns = {name: [row[n] for row in ROWS] for n, name in enumerate("abc")}
    on_duckdb, on_postgres = _both(
        server, tmp_path, dbt_sql, {**columns, "i": list(range(1, len(ROWS) + 1))}
    )
    assert on_duckdb == on_postgres
    expected = []
    for i, (a, b, c) in enumerate(ROWS, start=1):
        broken = [
            name
            for name, hit in (
                ("a_missing", a is None),
                ("b_missing", b is None),
                ("c_too_long", c is not None and len(c) > 2),
            )
            if hit
        ]
        longest = max((len(v) for v in (a, b, c) if v is not None), default=0)
        expected.append((i, longest, len(broken), broken[0] if broken else None))
    assert on_duckdb == expected


def test_the_staging_dialect_traps_give_the_same_answer_on_both_engines(server, tmp_path):
    """Where the staging queries met a difference between the engines (dbt/macros/
    cross_engine.sql), both give DuckDB's answer: membership in an empty list is false, not
    null; a count that does not fit an integer is null, not an error (PostgreSQL's cast raises);
    the first value by an order leaves null values out (DuckDB's arg_min); a character outside
    ASCII is found; and a parsed decimal keeps its type, numeric(18, 4), through a CASE."""
    values = ["12", "2147483648", "-2147483649", "caf\u00e9", None]
    dbt_sql = (
        "select i,"
        " {{ text_in('v', []) }} as in_empty,"
        " {{ text_in('v', ['12']) }} as in_list,"
        " {{ to_integer(parse_integer('v')) }} as as_integer,"
        " {{ has_non_ascii('v') }} as non_ascii,"
        " (select {{ arg_min('w', 'k') }} from (select case when k = 1 then null else v end as w, k"
        "  from parse_input as inner_input(v, k)) as firsts) as first_value,"
        " {{ parse_decimal(\"'1.5'\") }} as price"
        " from (select v, i from parse_input) as outer_input order by i"
    )
    columns = {"v": values, "i": list(range(1, len(values) + 1))}
    on_duckdb, on_postgres = _both(server, tmp_path, dbt_sql, columns)
    assert on_postgres == on_duckdb
    assert [row[1:5] for row in on_duckdb] == [
        (False, True, 12, False),
        (False, False, None, False),
        (False, False, None, False),
        (False, False, None, True),
        (False, None, None, None),
    ]
    # row 1 (i = 1) holds '12' but its value is nulled for arg_min: the next in order is taken
    assert {row[5] for row in on_duckdb} == {"2147483648"}
    assert {row[6] for row in on_duckdb} == {Decimal("1.5")}


def test_a_parsed_decimal_is_numeric_18_4_on_postgres(server, tmp_path):
    """Trap: a CASE drops the precision and scale of its branches in PostgreSQL, so a parsed
    price came out as an unbounded numeric; the staged schema reads numeric(18, 4)."""
    env = {**os.environ, **server}
    sql = _compiled(
        "select {{ parse_decimal(\"'1.5'\") }} as price", ["--target", "postgres"], env, tmp_path
    )
    with psycopg.connect(**local_postgres.connect_args(server)) as connection:
        described = connection.execute(f"select * from ({sql}) as q limit 0").description[0]
    assert (described.precision, described.scale) == (18, 4)
