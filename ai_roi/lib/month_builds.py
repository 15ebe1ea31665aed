"""Which months of the period marts a run must rewrite: those whose staged rows changed.

A monthly fact's rows of a month are a function of the staged rows of that month and of the dbt
project's code (fct_order_lines projects staged.order_lines line by line, fct_support_tickets
staged.tickets ticket by ticket). After each build, `governance.period_mart_builds` records per
fact and month a fingerprint of the staged rows it was built from, one of the rows it holds, and
the code it was built with. The next run of every month compares: only months whose staged rows
changed (a new month, a corrected month, a month that lost rows) or whose mart rows changed
since (a table edited by hand) are rewritten, as one window of whole months from the first such
month to the last; a change of code, a fact never recorded or rows without a date rebuild
everything. Nothing changed gives an empty window: the facts are kept, the tables they feed are
rebuilt from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from ai_roi.lib.dbt_sql import render
from ai_roi.lib.warehouse import engine_of, ensure_schemas, has_relation

# the dbt macro it renders, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/month_builds.sql",)
UNDATED = "undated"
TABLE = "governance.period_mart_builds"


@dataclass(frozen=True)
class PeriodMart:
    """A monthly fact: its table, the staged table it projects, and the column dating a row."""

    table: str
    staged: str
    column: str


@dataclass(frozen=True)
class Built:
    inputs: str | None
    rows: str | None
    code: str


def code_digest(dbt_dir: Path) -> str:
    """The dbt project's models, macros and settings, and the DuckDB that hashes the rows."""
    digest = hashlib.sha256(duckdb.__version__.encode())
    files = [dbt_dir / "dbt_project.yml"]
    for folder in ("models", "macros"):
        files += sorted(p for p in (dbt_dir / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(dbt_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprints(con, table: str, column: str) -> dict[str, str]:
    """Month (first day, ISO) -> rows and an order-independent hash of them, of `table`."""
    if not _exists(con, table):
        return {}
    wanted = {"table": table, "column": column, "undated": UNDATED}
    return dict(con.execute(render(engine_of(con), "month_fingerprints", wanted)).fetchall())


def recorded(con) -> dict[str, dict[str, Built]]:
    """Fact table -> month -> what its last build of that month was made from."""
    if not _exists(con, TABLE):
        return {}
    out: dict[str, dict[str, Built]] = {}
    for table, month, inputs, rows, code in con.execute(
        f"select mart, month, inputs, rows, code from {TABLE}"
    ).fetchall():
        out.setdefault(table, {})[month] = Built(inputs, rows, code)
    return out


def to_rebuild(
    marts: Iterable[PeriodMart],
    built: Mapping[str, Mapping[str, Built]],
    inputs: Mapping[str, Mapping[str, str]],
    rows: Mapping[str, Mapping[str, str]],
    code: str,
) -> tuple[set[str] | None, str]:
    """(the months to rewrite, or None for every month; why)."""
    changed: set[str] = set()
    for mart in marts:
        before = built.get(mart.table)
        if not before or not rows.get(mart.table):
            return None, f"{mart.table} has no recorded build"
        if any(b.code != code for b in before.values()):
            return None, "the dbt project changed since the last build"
        for month in set(before) | set(inputs[mart.table]) | set(rows[mart.table]):
            was = before.get(month)
            if (
                was is None
                or was.inputs != inputs[mart.table].get(month)
                or was.rows != rows[mart.table].get(month)
            ):
                changed.add(month)
    if UNDATED in changed:
        return None, "rows without a date changed"
    return (
        changed,
        f"{len(changed)} month{'' if len(changed) == 1 else 's'} changed since the last build",
    )


def changed_window(
    con, marts: Iterable[PeriodMart], code: str
) -> tuple[tuple[str, str] | None, str]:
    """(the window of months a build of `marts` must rewrite now, None for every month; why)."""
    marts = list(marts)
    months, why = to_rebuild(
        marts,
        recorded(con),
        {m.table: fingerprints(con, m.staged, m.column) for m in marts},
        {m.table: fingerprints(con, m.table, m.column) for m in marts},
        code,
    )
    if months is None:
        return None, why
    if not months:
        return window(months), "no month's staged rows changed: the facts are kept"
    shown = ", ".join(sorted(months)[:6]) + (" …" if len(months) > 6 else "")
    return window(months), f"{why} ({shown})"


def window(months: set[str]) -> tuple[str, str]:
    """The whole months from the first of `months` to the last, as [start, end) ISO dates; an
    empty window for no months."""
    if not months:
        return "1900-01-01", "1900-01-01"
    return min(months), next_month(date.fromisoformat(max(months))).isoformat()


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def record(
    con,
    marts: Iterable[PeriodMart],
    span: tuple[str, str] | None,
    code: str,
    run_id: str,
) -> None:
    """Record what the months just built (`span`, None: every month) were made from."""
    ensure_schemas(con)
    for mart in marts:
        inputs = fingerprints(con, mart.staged, mart.column)
        rows = fingerprints(con, mart.table, mart.column)
        months = set(inputs) | set(rows)
        if span is None:
            con.execute(f"delete from {TABLE} where mart = $mart", {"mart": mart.table})
        else:
            start, end = span
            months = {m for m in months if start <= m < end}
            con.execute(
                f"delete from {TABLE} where mart = $mart and month >= $start and month < $end",
                {"mart": mart.table, "start": start, "end": end},
            )
        built = [(mart.table, m, inputs.get(m), rows.get(m), code, run_id) for m in sorted(months)]
        if built:
            con.executemany(
                f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, current_timestamp)", built
            )


def _exists(con, table: str) -> bool:
    return has_relation(con, *table.split("."))
