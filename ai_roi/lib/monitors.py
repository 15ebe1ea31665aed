"""Monitors beside the rule checks: volume change, freshness, a source's schema change and a
mart's column schema between builds (the drift of the models' inputs is ML:
ai_roi/ml/drift.py).

Each monitor reads aggregates from the warehouse (the raw layer's from DuckDB or PostgreSQL alike)
and returns a `Finding`: passed or not, a one-line summary, the observed figures and thresholds,
and a small table for the Dagster UI.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np

from ai_roi.lib.warehouse import ensure_schemas, parsed_json, quote_ident
from ai_roi.params import VolumeParams
from ai_roi.sources import Freshness, SourceConfig

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass
class Finding:
    passed: bool
    summary: str
    observed: dict = field(default_factory=dict)
    table: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- volume


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    median: float


def robust_band(history: list[float], p: VolumeParams) -> Band | None:
    """Median/MAD band on log counts, or None when the history is shorter than `min_history`."""
    values = [v for v in history if v > 0]
    if len(values) < p.min_history:
        return None
    logs = np.log(values)
    centre = float(np.median(logs))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(logs - centre)))
    half = max(p.sensitivity * sigma, math.log1p(p.min_change))
    return Band(math.exp(centre - half), math.exp(centre + half), math.exp(centre))


def _judge(label: str, count: int, band: Band | None) -> dict:
    if band is None:
        return {"for": label, "rows": count, "expected": "no band yet", "status": "ok"}
    inside = band.low <= count <= band.high
    return {
        "for": label,
        "rows": count,
        "expected": f"{band.low:,.0f} – {band.high:,.0f} (median {band.median:,.0f})",
        "status": "ok" if inside else ("too few" if count < band.low else "too many"),
    }


def _volume_finding(table: list[dict], short_history: str | None, quiet: str, observed: dict):
    """Flag the rows judged out of band; with too short a history nothing is judged."""
    flagged = [r for r in table if r["status"] in ("too few", "too many")]
    if short_history:
        summary = short_history
    elif flagged:
        summary = "; ".join(
            f"{r['for']}: {r['rows']:,} rows, expected {r['expected']}" for r in flagged
        )
    else:
        summary = quiet
    return Finding(not flagged, summary, observed, table)


def load_volume(con: duckdb.DuckDBPyConnection, source: str, p: VolumeParams) -> Finding:
    """Rows of the current delivery (per partition) against the earlier deliveries."""
    loads = con.execute(
        "select load_id, is_current from raw._loads where source = $s order by loaded_at",
        {"s": source},
    ).fetchall()
    # the newest delivery in play is judged against the deliveries before it
    current = next((lid for lid, is_current in reversed(loads) if is_current), None)
    if current is None:
        return Finding(False, f"{source}: no current delivery")
    earlier = [lid for lid, _ in loads if lid != current][-p.history_window :]
    counts = con.execute(
        f"select _load_id, coalesce(_partition, 'all rows'), count(*) from raw.{source}"
        " where _load_id in (select unnest($ids::text[])) group by 1, 2",
        {"ids": [*earlier, current]},
    ).fetchall()
    by_partition: dict[str, dict[str, int]] = {}
    for load_id, partition, n in counts:
        by_partition.setdefault(partition, {})[load_id] = n
    table = []
    for partition, per_load in sorted(by_partition.items()):
        band = robust_band([per_load.get(lid, 0) for lid in earlier], p)
        table.append(_judge(partition, per_load.get(current, 0), band))
    short = None
    if len(earlier) < p.min_history:
        short = (
            f"{len(earlier)} earlier deliveries, {p.min_history} needed for a band: "
            "counts recorded, not judged"
        )
    return _volume_finding(
        table,
        short,
        f"row counts within the band of {len(earlier)} earlier deliveries",
        {
            "earlier_deliveries": len(earlier),
            "sensitivity": p.sensitivity,
            "min_change": p.min_change,
        },
    )


def monthly_volume(
    con: duckdb.DuckDBPyConnection, table: str, time_column: str, p: VolumeParams
) -> Finding:
    """Rows per complete calendar month of `table` against the other months.

    With two years or more of complete months each month is compared with the same month a year
    earlier (seasonality); otherwise with the median month. Months the data covers only in part
    (its first and last) are listed but not judged.
    """
    col = quote_ident(time_column)
    rows = con.execute(
        f"""
        with bounds as (select min({col}) as first_at, max({col}) as last_at from {table}),
        months as (
            select date_trunc('month', {col}) as month, count(*) as n from {table}
            where {col} is not null group by 1
        )
        select cast(month as date), n,
               month = date_trunc('month', first_at) and cast(first_at as date) > cast(month as date)
                   as starts_late,
               month = date_trunc('month', last_at)
                   and cast(last_at as date)
                       < cast(month + interval '1 month' - interval '1 day' as date)
                   as ends_early
        from months, bounds order by month
        """
    ).fetchall()
    complete = [(m, n) for m, n, late, early in rows if not late and not early]
    partial = [(m, n) for m, n, late, early in rows if late or early]
    counts = dict(complete)
    seasonal = len(complete) >= 24
    if seasonal:  # one band of year-on-year ratios, scaled by each month's year-ago count
        ratio_band = robust_band(
            [n / counts[_year_before(m)] for m, n in complete if _year_before(m) in counts], p
        )
    else:
        month_band = robust_band([n for _, n in complete], p)
    table_rows = []
    for month, n in complete:
        band = None if seasonal else month_band
        if seasonal:
            year_ago = counts.get(_year_before(month))
            if year_ago is None:
                continue
            if ratio_band is not None:
                band = Band(
                    ratio_band.low * year_ago,
                    ratio_band.high * year_ago,
                    ratio_band.median * year_ago,
                )
        table_rows.append(_judge(str(month)[:7], n, band))
    for month, n in partial:
        table_rows.append(
            {"for": str(month)[:7], "rows": n, "expected": "partial month", "status": "not judged"}
        )
    table_rows.sort(key=lambda r: r["for"])
    short = None
    if len(complete) < p.min_history:
        short = f"{len(complete)} complete months, {p.min_history} needed: not judged"
    return _volume_finding(
        table_rows,
        short,
        f"all {len(complete)} complete months within the band",
        {
            "complete_months": len(complete),
            "partial_months": len(partial),
            "method": "same month a year earlier" if seasonal else "median month",
            "sensitivity": p.sensitivity,
        },
    )


def _year_before(month):
    return month.replace(year=month.year - 1)


# ---------------------------------------------------------------- freshness


def freshness(
    con: duckdb.DuckDBPyConnection, table: str, time_column: str, cfg: Freshness
) -> Finding:
    """Lag of the newest event behind `as_of` (now when unset) against the expected cadence."""
    newest = con.execute(f"select max({quote_ident(time_column)}) from {table}").fetchone()[0]
    as_of = cfg.as_of or datetime.now(UTC).replace(tzinfo=None)
    observed = {
        "as_of": as_of.isoformat(timespec="minutes"),
        "as_of_source": "configured" if cfg.as_of else "now",
        "max_lag_hours": cfg.max_lag_hours,
    }
    if newest is None:
        return Finding(False, f"{table} has no {time_column}", observed)
    lag = (as_of - newest).total_seconds() / 3600
    observed |= {"newest_event": newest.isoformat(timespec="minutes"), "lag_hours": round(lag, 1)}
    if cfg.as_of is None and lag <= cfg.max_lag_hours:
        # judged against the clock, the verdict changes with no new data: when the newest event
        # passes as-of, or grows older than the cadence (lib/run_stamp.py reruns then)
        expiry = newest if lag < 0 else newest + timedelta(hours=cfg.max_lag_hours)
        observed["valid_until"] = expiry.isoformat(timespec="seconds")
    if lag < 0:
        return Finding(
            False,
            f"newest {time_column} {newest:%Y-%m-%d %H:%M} is after as-of {as_of:%Y-%m-%d %H:%M}",
            observed,
        )
    passed = lag <= cfg.max_lag_hours
    verdict = "within" if passed else "beyond"
    return Finding(
        passed,
        f"newest {time_column} is {lag:,.1f} h old at {as_of:%Y-%m-%d %H:%M}, "
        f"{verdict} the expected {cfg.max_lag_hours:g} h",
        observed,
    )


# ---------------------------------------------------------------- schema change

INTEGER, NUMBER, TEXT, MIXED, EMPTY = "integer", "number", "text", "mixed", "empty"


# A delivered value written as a whole number, or as a number in decimal or scientific notation:
# regular expressions anchored at both ends, so `~` (a match anywhere in the text, on DuckDB and
# PostgreSQL alike) matches the whole value. Unlike a cast, no engine's own spellings ("inf",
# "1_000") count as numbers.
INTEGER_TEXT = r"^[+-]?[0-9]+$"
NUMBER_TEXT = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def column_types(
    con: duckdb.DuckDBPyConnection, source: str, load_id: str, mapping: dict[str, str]
) -> dict[str, str]:
    """Type class of each mapped file column in one delivery, from its values.

    integer / number when at least 95 % of non-empty values are written as such (`INTEGER_TEXT`,
    `NUMBER_TEXT`), text when at most half are numbers, mixed in between; mixed and empty are
    compatible with any type. The same SQL on DuckDB and PostgreSQL.
    """
    parts = []
    for canon in mapping:
        c = f"nullif(trim({quote_ident(canon)}), '')"
        parts.append(
            f"count({c}), count(*) filter (where {c} ~ '{INTEGER_TEXT}'),"
            f" count(*) filter (where {c} ~ '{NUMBER_TEXT}')"
        )
    row = con.execute(
        f"select {', '.join(parts)} from raw.{source} where _load_id = $l", {"l": load_id}
    ).fetchone()
    types = {}
    for i, file_col in enumerate(mapping.values()):
        n, ints, nums = row[3 * i : 3 * i + 3]
        if n == 0:
            kind = EMPTY
        elif ints >= 0.95 * n:
            kind = INTEGER
        elif nums >= 0.95 * n:
            kind = NUMBER
        elif nums <= 0.5 * n:
            kind = TEXT
        else:
            kind = MIXED
        types[file_col] = kind
    return types


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or MIXED in (a, b) or EMPTY in (a, b)


def schema_differences(accepted: dict, current: dict, accepted_changes: list[str]) -> list[dict]:
    """Differences between two schemas {columns: {file column: type}, mapping: {canon: file col}}.

    A difference is accepted when the mapping explains it (a pipeline column now reads another file
    column, or is no longer mapped) or its column is listed in `accepted_changes`.
    """
    old_cols, new_cols = accepted["columns"], current["columns"]
    old_map, new_map = accepted["mapping"], current["mapping"]
    listed = set(accepted_changes)
    diffs = []
    renamed_from, renamed_to = set(), set()
    for canon, old in old_map.items():
        new = new_map.get(canon)
        if new is not None and new != old:
            renamed_from.add(old)
            renamed_to.add(new)
            diffs.append(
                {
                    "change": "renamed",
                    "column": f"{old} → {new}",
                    "detail": f"feeds {canon}",
                    "accepted": True,
                    "by": "column mapping",
                }
            )
    unmapped_now = {old for canon, old in old_map.items() if canon not in new_map}
    missing = [c for c in old_cols if c not in new_cols and c not in renamed_from]
    added = [c for c in new_cols if c not in old_cols and c not in renamed_to]
    for col in missing:
        close = difflib.get_close_matches(col, added, n=1, cutoff=0.6)
        by = (
            "column mapping"
            if col in unmapped_now
            else ("accepted_schema_changes" if col in listed else "")
        )
        diffs.append(
            {
                "change": "missing",
                "column": col,
                "detail": f"was {old_cols[col] or 'unmapped'}"
                + (f"; renamed to {close[0]!r}?" if close else ""),
                "accepted": bool(by),
                "by": by,
            }
        )
    for col in added:
        diffs.append(
            {
                "change": "new",
                "column": col,
                "detail": new_cols[col] or "not mapped",
                "accepted": col in listed,
                "by": "accepted_schema_changes" if col in listed else "",
            }
        )
    for col in old_cols:
        if col in new_cols and not _compatible(old_cols[col], new_cols[col]):
            diffs.append(
                {
                    "change": "retyped",
                    "column": col,
                    "detail": f"{old_cols[col]} → {new_cols[col]}",
                    "accepted": col in listed,
                    "by": "accepted_schema_changes" if col in listed else "",
                }
            )
    return diffs


def schema_change(con: duckdb.DuckDBPyConnection, source: str, config: SourceConfig) -> Finding:
    """Compare the columns and types of each new delivery with the source's last accepted schema.

    The deliveries judged are the pending ones in play (new files), else the newest in play, so
    the verdict is the same whether raw was loaded in this run or not. Each delivery is read with
    its own column mapping (a file may carry one in the catalogue). Each delivery is measured
    (`measure_schema`), then recorded (`record_schema`): the next one is compared with it.
    """
    ensure_schemas(con)
    in_play = con.execute(
        "select load_id, file_columns, mapping, status from raw._loads where source = $s"
        " and is_current order by loaded_at",
        {"s": source},
    ).fetchall()
    todo = [row for row in in_play if row[3] == "pending"] or in_play[-1:]
    all_diffs: list[dict] = []
    open_diffs: list[dict] = []
    notes, columns = [], {}
    for load_id, file_columns, mapping_json, _status in todo:  # oldest first
        mapping = parsed_json(mapping_json) if mapping_json else dict(config.columns)
        measured = measure_schema(con, source, config, load_id, file_columns, mapping)
        # recorded before the next delivery is measured: it is compared with this one if accepted
        record_schema(con, source, load_id, measured)
        all_diffs += measured.diffs
        open_diffs += measured.open_diffs
        notes.append(measured.note)
        columns = measured.columns
    if open_diffs:
        listed = ", ".join(f"{d['change']} {d['column']} ({d['detail']})" for d in open_diffs)
        summary = (
            f"{source}: the delivered schema changed: {listed}. If this is expected, map a renamed "
            f"column under sources.{source}.columns (or files[].columns for those files), or list "
            f"the column under sources.{source}.accepted_schema_changes in the source catalogue, "
            "then run again."
        )
    elif all_diffs:
        summary = f"{len(all_diffs)} schema change(s), all accepted by the catalogue; {notes[-1]}"
    else:
        summary = f"no schema change; {notes[-1]}"
    return Finding(
        not open_diffs,
        summary,
        {
            "file_columns": len(columns),
            "changes": len(all_diffs),
            "open_changes": len(open_diffs),
            "deliveries_judged": len(todo),
        },
        all_diffs or [{"column": c, "type": t or "not mapped"} for c, t in columns.items()],
    )


@dataclass(frozen=True)
class SchemaMeasure:
    """One delivery's columns and types against the last accepted schema of its source."""

    columns: dict[str, str | None]  # file column -> type
    mapping: dict[str, str]
    diffs: list[dict]
    note: str

    @property
    def open_diffs(self) -> list[dict]:
        return [d for d in self.diffs if not d["accepted"]]


def measure_schema(con, source, config, load_id, file_columns, mapping) -> SchemaMeasure:
    """One delivery's schema against the last accepted one (quality.source_schemas); reads only."""
    types = column_types(con, source, load_id, mapping)
    columns = {c: types.get(c) for c in parsed_json(file_columns)}
    last = con.execute(
        "select load_id, file_schema, mapping from quality.source_schemas"
        " where source = $s and status = 'accepted' order by decided_at desc limit 1",
        {"s": source},
    ).fetchone()
    if last is None:
        return SchemaMeasure(
            columns, mapping, [], "first delivery: its schema is the accepted baseline"
        )
    accepted = {"columns": parsed_json(last[1]), "mapping": parsed_json(last[2])}
    current = {"columns": columns, "mapping": mapping}
    diffs = schema_differences(accepted, current, config.accepted_schema_changes)
    return SchemaMeasure(
        columns, mapping, diffs, f"compared with the schema accepted at load {last[0][:8]}"
    )


def record_schema(con, source: str, load_id: str, measured: SchemaMeasure) -> None:
    """Record the delivery's schema: accepted (the baseline from now on) or rejected."""
    con.execute(
        "insert into quality.source_schemas values ($s, $l, $at, $status, $schema, $map, $diffs)",
        {
            "s": source,
            "l": load_id,
            "at": datetime.now(UTC).replace(tzinfo=None),
            "status": "rejected" if measured.open_diffs else "accepted",
            "schema": json.dumps(measured.columns),
            "map": json.dumps(measured.mapping),
            "diffs": json.dumps(measured.diffs),
        },
    )


def column_schema_change(
    previous: Mapping[str, str] | None, latest: Mapping[str, str] | None, what: str
) -> Finding:
    """The columns and types of `what`'s latest build ({column: type}) against its previous build.

    A column dropped, added or retyped in a mart breaks whatever reads it by name (the reports, a
    BI tool, an export): the finding names each change so the readers can follow it. The next
    build is compared with this one, so a deliberate change warns once.
    """
    if latest is None:
        return Finding(False, f"{what}: its latest build recorded no column schema")
    if previous is None:
        return Finding(
            True,
            f"{what}: first build with a column schema ({len(latest)} columns), nothing to compare",
            {"column_count": len(latest)},
        )
    diffs = [
        {k: d[k] for k in ("change", "column", "detail")}
        for d in schema_differences(
            {"columns": dict(previous), "mapping": {}}, {"columns": dict(latest), "mapping": {}}, []
        )
    ]
    if not diffs:
        return Finding(
            True,
            f"{what}: the same {len(latest)} columns and types as its previous build",
            {"column_count": len(latest), "changes": 0},
        )
    listed = ", ".join(f"{d['change']} {d['column']} ({d['detail']})" for d in diffs)
    return Finding(
        False,
        f"{what}: its columns changed since its previous build: {listed}. Whatever reads it by "
        "column name (reports, BI tools, exports) needs the same change; the next build is "
        "compared with this one.",
        {"column_count": len(latest), "changes": len(diffs)},
        diffs,
    )
