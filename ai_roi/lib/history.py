"""Quality history: every check evaluation, whatever ran it, as one row of `quality.check_results`.

Checks report `dimension`, `rows_checked` and `rows_failed` in their metadata; this module turns a
check's results into rows, so the dbt mart `mart_data_quality` can score each asset and dimension
per run (see README, "Quality scores").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import duckdb

from ai_roi.lib.rules import md_table
from ai_roi.lib.runs import complete_runs
from ai_roi.lib.warehouse import ensure_schemas, fetch_dicts, has_quality_mart

# metadata that is presentation, not a figure: kept in Dagster, not copied to the history
NOT_OBSERVED = {"failures", "failure_samples", "details", "quality_history"}


@dataclass(frozen=True)
class CheckRecord:
    asset_key: str
    check_name: str
    dimension: str
    check_kind: str
    passed: bool
    severity: str
    rows_checked: int | None = None
    rows_failed: int | None = None
    columns: list[str] = field(default_factory=list)
    observed: dict = field(default_factory=dict)


def _plain(value):
    value = value.value if isinstance(value, dg.MetadataValue) else value
    plain = value is None or isinstance(value, int | float | str | bool | list | dict)
    return value if plain else str(value)


def from_result(
    result: dg.AssetCheckResult,
    kind: str,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
) -> CheckRecord:
    """The history row of one check result; its metadata must name the dimension."""
    meta = {k: _plain(v) for k, v in (result.metadata or {}).items()}
    key = result.asset_key or asset_key
    name = result.check_name or check_name
    if key is None or name is None:
        raise ValueError("a recorded check result needs its asset key and check name")
    dimension = meta.pop("dimension", None)
    if dimension is None:
        raise ValueError(f"check {result.check_name} reports no quality dimension")
    columns = meta.pop("columns", None) or []
    return CheckRecord(
        asset_key=key.to_user_string(),
        check_name=name,
        dimension=dimension,
        check_kind=kind,
        passed=result.passed,
        severity=result.severity.value,
        rows_checked=meta.get("rows_checked"),
        rows_failed=meta.get("rows_failed"),
        columns=list(columns),
        observed={k: v for k, v in meta.items() if k not in NOT_OBSERVED and "/" not in k},
    )


def record(con, run_id: str, records: Iterable[CheckRecord]) -> int:
    """Append the records of one run to the history (on either engine); returns how many were
    written."""
    ensure_schemas(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            run_id,
            now,
            r.asset_key,
            r.check_name,
            r.dimension,
            r.check_kind,
            r.passed,
            r.severity,
            r.rows_checked,
            r.rows_failed,
            r.columns,
            json.dumps(r.observed, default=str),
        )
        for r in records
    ]
    if rows:
        con.executemany(
            "insert into quality.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
    return len(rows)


def complete_history_runs(
    con: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance, table: str, runs: int = 20
) -> list[str]:
    """The last `runs` runs in `table` (a table with run_id and evaluated_at) whose check history
    is whole (lib.runs.complete_runs), newest first."""
    recent = [
        r
        for (r,) in con.execute(
            f"select run_id from {table} group by run_id order by min(evaluated_at) desc limit $n",
            {"n": 3 * runs},
        ).fetchall()
    ]
    complete = complete_runs(instance, recent)
    return [r for r in recent if r in complete][:runs]


def states_by_run(history: list[dict], key: tuple[str, ...] = ("asset_key", "dimension")):
    """{run_id: rows}, oldest run first: after each run, every `key` at its latest evaluation.

    `history` holds rows with `run_id` and `evaluated_at` (any order). A run may check some
    assets only (a UI run of one group, a sensor's run of new files, a run stopped by a blocking
    check): the others keep the figures of the last run that checked them, since they did not
    change; so a run's selection neither hides them nor draws a dip in their trends. Each row
    of a state says in `evaluated_in` which run evaluated it.
    """
    by_run: dict[str, list[dict]] = {}
    for row in history:
        by_run.setdefault(row["run_id"], []).append(row)
    state: dict[tuple, dict] = {}
    states: dict[str, list[dict]] = {}
    for run_id in sorted(by_run, key=lambda run: min(r["evaluated_at"] for r in by_run[run])):
        for row in by_run[run_id]:
            state[tuple(row[k] for k in key)] = {**row, "evaluated_in": run_id}
        states[run_id] = [{**row, "run_id": run_id} for _, row in sorted(state.items())]
    return states


def quality_states(
    con: duckdb.DuckDBPyConnection, runs: list[str], assets: set[str]
) -> dict[str, list[dict]]:
    """The quality mart's rows of `runs` as `states_by_run`, for the assets the code location
    has (one it no longer has is left out): what the quality page and the ROI report show."""
    rows = fetch_dicts(
        con,
        "select * from marts.mart_data_quality where run_id in (select unnest($runs::varchar[]))",
        {"runs": runs},
    )
    return states_by_run([r for r in rows if r["asset_key"] in assets])


def recent_scores(
    con: duckdb.DuckDBPyConnection, asset_key: str, dimension: str, runs: int = 10
) -> list[dict]:
    """The last `runs` scores of one asset and dimension, oldest first, read from the mart.

    marts.mart_data_quality is the one definition of a score; until dbt has built it (the first
    run's checks before its dbt step) there is no history to show.
    """
    if not has_quality_mart(con):
        return []
    rows = con.execute(
        """
        select evaluated_at, score, checks_failed from marts.mart_data_quality
        where asset_key = $asset and dimension = $dim order by evaluated_at desc limit $n
        """,
        {"asset": asset_key, "dim": dimension, "n": runs},
    ).fetchall()
    return [
        {
            "run at": at.isoformat(timespec="seconds"),
            "score": "-" if score is None else float(score),
            "checks failed": checks_failed,
        }
        for at, score, checks_failed in reversed(rows)
    ]


def recorded(
    context: dg.AssetCheckExecutionContext | dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    results: list[dg.AssetCheckResult],
    *,
    kind: str,
    asset_key: dg.AssetKey | None = None,
) -> list[dg.AssetCheckResult]:
    """Write `results` to the quality history and return them with their recent history attached."""
    specs = list(getattr(context, "check_specs", ()))  # an asset's own checks: none here
    default_name = specs[0].name if len(specs) == 1 else None
    records = [from_result(r, kind, asset_key, default_name) for r in results]
    record(con, context.run.run_id, records)
    out = []
    for result, rec in zip(results, records, strict=True):
        history = md_table(recent_scores(con, rec.asset_key, rec.dimension), limit=10)
        out.append(
            result.with_metadata(
                {**result.metadata, "quality_history": dg.MetadataValue.md(history)}
            )
        )
    return out
