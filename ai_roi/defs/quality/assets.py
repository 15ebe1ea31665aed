"""The quality history as an asset, check coverage, and the human-readable quality page."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.lib import code_location, freshness, retention, selection
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.history import complete_history_runs, quality_states
from ai_roi.lib.rules import DIMENSIONS, md_table
from ai_roi.lib.warehouse import (
    engine_of,
    ensure_schemas,
    fetch_dicts,
    has_quality_mart,
    parsed_json,
)
from ai_roi.reports import layout, roi_report
from ai_roi.reports.quality_page import render_quality_page
from ai_roi.resources import OutputsResource, ParamsResource

# the dbt macros of its queries, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/profiles.sql", "dbt/macros/cross_engine.sql")
CHECK_RESULTS_KEY = dg.AssetKey(["quality", "check_results"])
REPORT_KEY = dg.AssetKey(["reports", "quality_page"])
# per-run history kept to params.yaml retention.check_history_runs runs: (table, time column)
HISTORY_TABLES = (
    ("quality.check_results", "evaluated_at"),
    ("quality.check_coverage", "computed_at"),
)

check_results = dg.AssetSpec(
    key=CHECK_RESULTS_KEY,
    group_name="quality",
    kinds={"duckdb"},
    tags={"classification": "internal", "domain": "quality"},
    description="Every check evaluation (Pandera, monitors, dbt tests, promotion gates) with its "
    "dimension and row counts, appended by the checks themselves as they run. "
    "Grain: one row per check per run.",
)

# the staging assets, which write the quarantine tables
STAGED_KEYS = [
    dg.AssetKey(["staged", name])
    for name in ("order_lines", "ticket_events", "tickets", "messages")
]

quarantine_rows = dg.AssetSpec(
    key=dg.AssetKey(["quarantine", "rows"]),
    deps=STAGED_KEYS,
    group_name="quality",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "quality"},
    description="Source rows kept out of the staged layer, with the rule each broke and the "
    "record as delivered; written by the staging assets. Grain: one row per quarantined row "
    "per load.",
)

quarantine_rules = dg.AssetSpec(
    key=dg.AssetKey(["quarantine", "rules"]),
    deps=STAGED_KEYS,
    group_name="quality",
    kinds={"duckdb"},
    tags={"classification": "internal", "domain": "quality"},
    description="The quarantine rules each source's staging used, with their dimension, reason "
    "and whether a row held back under the rule averts a bad decision (the ROI's risk axis); "
    "written by the staging assets. Grain: one row per source per rule.",
)


def _relations(con) -> dict[str, list[str]]:
    """Columns of every table and view, by `schema/name` (raw views without `__current`)."""
    columns: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
        " where table_schema in ('raw', 'staged', 'stg', 'marts') and not starts_with(column_name, '_')"
        " order by table_schema, table_name, ordinal_position"
    ).fetchall():
        columns.setdefault(f"{schema}/{table.removesuffix('__current')}", []).append(column)
    return columns


def coverage(
    graph_checks: dict[str, dict[str, set[str]]], assets: list[str], relations, recorded_columns
) -> list[dict]:
    """Per asset and dimension: is any check on it, and the share of its columns checked.

    `graph_checks[asset][dimension]` holds the names of the checks defined on the asset;
    `recorded_columns[(asset, check)]` the columns each check reported looking at.
    """
    rows = []
    for asset in assets:
        table_columns = relations.get(asset)
        for dim in DIMENSIONS:
            checks = graph_checks.get(asset, {}).get(dim, set())
            covered = set()
            for check in checks:
                covered |= set(recorded_columns.get((asset, check), []))
            row = {"asset_key": asset, "dimension": dim, "checks": len(checks)}
            if table_columns:
                hit = covered & set(table_columns)
                row |= {"columns": len(table_columns), "columns_covered": len(hit)}
            else:
                row |= {"columns": None, "columns_covered": None}
            rows.append(row)
    return rows


@dg.asset(
    key=REPORT_KEY,
    deps=[dg.AssetKey(["marts", "mart_data_quality"]), CHECK_RESULTS_KEY],
    group_name="quality",
    kinds={"duckdb", "html"},
    tags={"classification": "internal", "domain": "quality"},
)
def quality_page(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    outputs: OutputsResource,
    params: ParamsResource,
) -> dg.MaterializeResult:
    """Scores per dimension over runs, check coverage, the last failures and the quarantine by rule, as reports/quality.html; one page per run of the pipeline."""
    # the whole code location: a run of this asset alone has only itself in its job's graph
    graph = code_location.asset_graph()
    assets = code_location.materializable_assets()
    graph_checks: dict[str, dict[str, set[str]]] = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        dim = (spec.metadata or {}).get("dimension")
        dim = getattr(dim, "value", dim)
        graph_checks.setdefault(key.asset_key.to_user_string(), {}).setdefault(dim, set()).add(
            key.name
        )
    with duckdb.get_connection() as con:
        ensure_schemas(con)
        relations = _relations(con)
        recorded_columns = {
            (a, c): cols
            for a, c, cols in con.execute(
                "select asset_key, check_name, columns from ("
                "select asset_key, check_name, columns, row_number() over (partition by"
                " asset_key, check_name order by evaluated_at desc) as newest"
                " from quality.check_results) as evaluated where newest = 1"
            ).fetchall()
        }
        rows = coverage(graph_checks, assets, relations, recorded_columns)
        run_id = context.run.run_id
        con.executemany(
            "insert into quality.check_coverage values (?, current_timestamp, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    r["asset_key"],
                    r["dimension"],
                    r["checks"],
                    r["columns"],
                    r["columns_covered"],
                )
                for r in rows
            ],
        )
        keep = params.load().retention.check_history_runs
        pruned = {
            table: retention.keep_newest_runs(con, table, column, keep)
            for table, column in HISTORY_TABLES
        }
        data = _page_data(con, context.instance, set(assets))
        current = freshness.current_versions(con)
    data["coverage"] = rows
    data["sources_by_asset"] = selection.sources_by_asset(graph)
    language = layout.language(params.load().roi.report_language)
    path = outputs.path("reports", layout.page_name(layout.QUALITY_PAGE, language))
    path.write_text(render_quality_page(data, language), encoding="utf-8")
    # this page is built after every run, failed ones too: it marks an older ROI page stale
    stale = roi_report.restamp_all(path.parent, current)
    by_dim = _coverage_by_dimension(rows)
    return dg.MaterializeResult(
        metadata={
            "path": str(path),
            "stale_pages": dg.MetadataValue.json([p.name for p in stale]),
            "coverage_by_dimension": dg.MetadataValue.md(md_table(by_dim, limit=10)),
            "latest_scores": dg.MetadataValue.md(md_table(_scores(data["latest"]), limit=200)),
            "assets": len(assets),
            "history_rows_deleted": dg.MetadataValue.json(pruned),
        }
    )


def _scores(latest: list[dict]) -> list[dict]:
    keys = ("asset_key", "dimension", "score", "check_pass_rate", "checks_failed")
    return [{k: r[k] for k in keys} for r in latest]


def _coverage_by_dimension(rows: list[dict]) -> list[dict]:
    out = []
    for dim in DIMENSIONS:
        of_dim = [r for r in rows if r["dimension"] == dim]
        with_cols = [r for r in of_dim if r["columns"]]
        columns = sum(r["columns"] for r in with_cols)
        out.append(
            {
                "dimension": dim,
                "assets_covered_pct": round(
                    100 * sum(r["checks"] > 0 for r in of_dim) / max(len(of_dim), 1), 1
                ),
                "columns_covered_pct": round(
                    100 * sum(r["columns_covered"] for r in with_cols) / max(columns, 1), 1
                ),
            }
        )
    return out


def _page_data(con, instance: dg.DagsterInstance, assets: set[str]) -> dict:
    """What the page shows: each asset's latest complete evaluation (lib.history.states_by_run),
    the scores after each of the last complete runs, and the checks failing now."""
    runs = complete_history_runs(con, instance, "quality.check_results")
    states = quality_states(con, runs, assets) if has_quality_mart(con) else {}
    last_run = next(reversed(states), None)
    latest = states.get(last_run, [])
    # each check at its latest evaluation in a complete run, if that failed
    failures = [
        f
        for f in fetch_dicts(
            con,
            "select asset_key, check_name, dimension, severity, observed, passed from ("
            "select *, row_number() over (partition by asset_key, check_name"
            " order by evaluated_at desc) as newest"
            " from quality.check_results where run_id in (select unnest($runs::varchar[]))"
            ") as evaluated where newest = 1"
            " order by severity, asset_key, check_name",
            {"runs": runs},
        )
        if not f.pop("passed") and f["asset_key"] in assets
    ]
    for f in failures:
        observed = parsed_json(f.pop("observed") or "{}")
        f["detail"] = (
            observed.get("summary")
            or observed.get("failed_rules")
            or observed.get("failures")
            or ""
        )
        if isinstance(observed.get("failures_by_rule"), dict):
            f["detail"] = ", ".join(f"{k} {v:,}" for k, v in observed["failures_by_rule"].items())
            f["failures_by_rule"] = observed["failures_by_rule"]
        f["reasons"] = observed.get("reasons_by_rule") or {}
    # dbt/macros/profiles.sql
    quarantine = fetch_dicts(con, render(engine_of(con), "quality_quarantine_summary"))
    return {
        "history": [row for rows in states.values() for row in rows],
        "latest": latest,
        "failures": failures,
        "quarantine": quarantine,
        "run_id": last_run,
    }
