"""The AI ROI report: one self-contained HTML file (plotly charts inline), English or Korean.

`gather` reads the figures from the marts and the MLflow champions; `render` only lays them out,
so every number on the page is one a mart or a tracked run holds, and each chart says which.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape, unescape
from pathlib import Path

import mlflow
import pandas as pd
from markupsafe import Markup

from ai_roi.lib import code_location, freshness, selection
from ai_roi.lib.history import complete_history_runs, quality_states
from ai_roi.lib.rules import DIMENSIONS, dimension_scores
from ai_roi.lib.warehouse import fetch_dicts, fetch_frame
from ai_roi.ml import tracking
from ai_roi.reports import layout
from ai_roi.reports import roi_charts as charts
from ai_roi.reports.layout import money
from ai_roi.reports.quality_page import summarise
from ai_roi.roi.scenarios import finops_status

_num = layout.num
# scenario columns that are not the business's assumptions
INTERNAL_COLUMNS = {"scenario_id", "volume_factor", "automation_factor"}
ROUTER, FORECASTER = "intent_router", "demand_forecaster"
# the page's STALE banner sits between these markers; `restamp` rewrites it as data moves on
FRESHNESS_START, FRESHNESS_END = "<!-- freshness -->", "<!-- /freshness -->"
VERSIONS_ID = "roi-data-versions"


def _frame(con, sql: str) -> pd.DataFrame:
    return fetch_frame(con, sql)


def _quality_by_dimension(rows: list[dict]) -> pd.DataFrame:
    """The current score per dimension, as the quality page computes it, with its checks."""
    scores = dimension_scores(rows)
    return pd.DataFrame(
        [
            {
                "dimension": dim,
                "score": scores[dim],
                "checks_run": sum(r["checks_run"] for r in rows if r["dimension"] == dim),
                "checks_failed": sum(r["checks_failed"] for r in rows if r["dimension"] == dim),
            }
            for dim in DIMENSIONS
            if scores[dim] is not None
        ],
        columns=["dimension", "score", "checks_run", "checks_failed"],
    )


def _champion(mlflow_store, name: str):
    mlflow_store.experiment(name)
    return tracking.champion(name)


def _router_curve(run_id: str) -> pd.DataFrame:
    """Automation vs precision curve the router's evaluation logged to its MLflow run."""
    table = mlflow.artifacts.load_dict(f"runs:/{run_id}/coverage_at_precision.json")
    return pd.DataFrame(table["data"], columns=table["columns"])


def _current_quality(con, instance) -> list[dict]:
    """Each asset and dimension at its latest evaluation in a complete run, as the quality page
    shows them (lib.history.quality_states)."""
    runs = complete_history_runs(con, instance, "marts.mart_data_quality")
    states = quality_states(con, runs, set(code_location.materializable_assets()))
    return states[next(reversed(states))] if states else []


def gather(con, mlflow_store, instance) -> dict:
    """Every figure the report shows, with where it came from.

    `con` is the consumers' read-only export of the marts: the report never sees other layers.
    `instance` (Dagster's) says which runs finished, so a killed run's partial checks are left out.
    """
    summary = fetch_dicts(con, "select * from marts.mart_roi_summary")[0]
    current_quality = _current_quality(con, instance)
    router = _champion(mlflow_store, ROUTER)
    forecaster = _champion(mlflow_store, FORECASTER)
    loads = fetch_dicts(con, "select source, fingerprint from marts.mart_data_versions order by 1")
    data = {
        "summary": summary,
        "cashflow": _frame(
            con, "select * from marts.mart_roi_cashflow_monthly order by month, axis"
        ),
        "sensitivity": _frame(con, "select * from marts.mart_roi_sensitivity order by rank"),
        "uncertainty": _frame(con, "select * from marts.mart_roi_uncertainty"),
        "productivity": _frame(
            con, "select * from marts.mart_support_productivity_weekly order by week_start"
        ),
        "forecast": _frame(
            con,
            "select week_start, actual_units as actual, forecast_units as model,"
            " naive_units as naive, mlflow_run_id from marts.mart_forecast_backtest_weekly"
            " order by 1",
        ),
        "quality": _quality_by_dimension(current_quality),
        "quality_sources": summarise(
            current_quality, [], selection.sources_by_asset(code_location.asset_graph())
        ),
        "assumptions": fetch_dicts(con, "select * from marts.mart_roi_assumptions")[0],
        "router_curve": _router_curve(router.run_id) if router else pd.DataFrame(),
        "inventory": fetch_dicts(
            con,
            "select asset_key, group_name, owners, classification, grain, checks"
            " from marts.mart_asset_inventory order by asset_key",
        ),
        "audit": fetch_dicts(
            con,
            "select run_id, started_at, status, launcher, git_commit, checks_passed,"
            " checks_warned, checks_failed, rows_quarantined, models_trained, promotions"
            " from marts.mart_audit_log order by started_at desc limit 10",
        ),
        "loads": loads,
        "git_commit": tracking.git_commit(),
    }
    forecast_run = data["forecast"]["mlflow_run_id"].iloc[0] if len(data["forecast"]) else "none"
    data_version = freshness.short({x["source"]: x["fingerprint"] for x in loads})
    data["sources"] = {
        "headline": f"marts.mart_roi_summary; data version {data_version}; git {data['git_commit'][:12]}",
        "axes": "marts.mart_roi_summary, marts.mart_roi_cashflow_monthly",
        "cashflow": "marts.mart_roi_cashflow_monthly",
        "tornado": "marts.mart_roi_sensitivity",
        "uncertainty": "marts.mart_roi_uncertainty",
        "kpis": "marts.mart_support_productivity_weekly",
        "router": f"MLflow run {router.run_id} ({ROUTER} v{router.version}), ml.routed_messages"
        if router
        else "no router champion",
        "forecast": f"marts.mart_forecast_backtest_weekly, MLflow run {forecast_run}"
        + (f" ({FORECASTER} v{forecaster.version})" if forecaster else ""),
        "quality": "marts.mart_data_quality",
        "inventory": "marts.mart_asset_inventory",
        "audit": "marts.mart_audit_log",
        "finops": "marts.mart_roi_summary",
        "data_version": f"marts.mart_data_versions: {data_version}",
    }
    return data


def _quality_table(data: dict, q: dict) -> tuple[list[str], list[tuple[str, list[tuple]]]]:
    """The quality page's per-source status, one row per source: each dimension's status (the
    cell's class) and its words with the score of the rows as delivered."""
    columns = [q["source_col"]] + [q["dimensions"][d] for d in DIMENSIONS]
    rows = []
    for s in data["quality_sources"]:
        cells = []
        for d in s.dimensions:
            score = f" {layout.num(d.score, 2)} %" if d.score is not None and s.name else ""
            cells.append((d.status, f"{q['status'][d.status]}{score}"))
        rows.append((q["sources"].get(s.name, s.name), cells))
    return columns, rows


def render(data: dict, language: str, min_week_tickets: int = 5) -> str:
    """The page in `language` from `gather`'s figures; a week of fewer than `min_week_tickets`
    tickets draws no resolution-hours point."""
    t = layout.messages(language)
    r = t["roi"]
    s = data["summary"]
    versions = {x["source"]: x["fingerprint"] for x in data["loads"]}
    cur = s["currency"]
    m = lambda v: money(v, cur, language)  # noqa: E731
    h = int(s["horizon_months"])
    src = data["sources"]
    share = float(data["assumptions"]["sensitivity"])
    quality_names = data["quality"].assign(
        dimension=data["quality"]["dimension"].map(t["quality"]["dimensions"])
    )
    specs = [
        (r["axes"], charts.axes(data, r, language), src["axes"], None),
        (r["cashflow"], charts.cashflow(data, r), src["cashflow"], None),
        (r["tornado"].format(h=h, s=share), charts.tornado(data, r), src["tornado"], None),
        (
            r["kpis"],
            charts.support_kpis(data, r, min_week_tickets),
            src["kpis"],
            r["kpi_note"].format(n=min_week_tickets),
        ),
        (r["router"], charts.router(data, r), src["router"], None),
        (r["forecast"], charts.forecast(data, r), src["forecast"], None),
        (r["quality"], charts.quality({"quality": quality_names}, r), src["quality"], None),
    ]
    chart_list = [
        {"title": title, "html": charts.html(fig, first=i == 0), "source": source, "note": note}
        for i, (title, fig, source, note) in enumerate(specs)
    ]
    status, used = finops_status(s["projected_api_spend_monthly"], s["monthly_api_budget"])
    finops = r["finops_line"].format(
        spend=m(s["projected_api_spend_monthly"]),
        budget=m(s["monthly_api_budget"]),
        pct=100 * used,
        status=r["status"][status],
    )
    payback = str(s["payback_month"]) if s["payback_month"] is not None else r["never"]
    cards = [
        (r["net_12m"], m(s["net_benefit_12m"])),
        (r["roi_12m"], f"{_num(s['roi_12m_pct'])} %"),
        (r["roi_h"].format(h=h), f"{_num(s['roi_horizon_pct'])} %"),
        (r["payback"], payback),
    ]
    productivity = [
        (f"{r['tph']} ({r['baseline']})", _num(s["tickets_per_agent_hour_baseline"], 2)),
        (f"{r['tph']} ({r['with_ai']})", _num(s["tickets_per_agent_hour_with_ai"], 2)),
        (f"{r['res']} ({r['baseline']})", _num(s["mean_resolution_hours_baseline"])),
        (f"{r['res']} ({r['pilot']})", _num(s["mean_resolution_hours_pilot"])),
        (
            f"{r['res']} ({r['pilot']}, {r['with_ai']})",
            _num(s["mean_resolution_hours_pilot_with_ai"]),
        ),
        (r["share"], f"{100 * s['share_without_person_with_ai']:.1f} %"),
    ]
    uncertainty = [
        [r["metric_names"].get(metric, metric)]
        + [
            m(row[p]) if metric == "net_benefit_horizon" else _num(row[p])
            for p in ("p10", "p50", "p90")
        ]
        for metric, row in data["uncertainty"].set_index("metric").iterrows()
    ]
    measured = [
        ("tickets_per_month", _num(s["tickets_per_month"], 0)),
        ("automation_rate", f"{100 * s['automation_rate']:.1f} %"),
        ("in_scope_automation", f"{100 * s['in_scope_automation']:.1f} %"),
        ("in_scope_share", f"{100 * s['in_scope_share']:.1f} %"),
        ("auto_precision", f"{100 * s['auto_precision']:.1f} %"),
        ("routed_messages", f"{s['routed_messages']:,}"),
        ("router_model_version", str(s["router_model_version"])),
        ("sla_attainment", f"{100 * s['sla_attainment']:.1f} %"),
        ("wape_model / wape_naive", f"{s['wape_model']:.3f} / {s['wape_naive']:.3f}"),
        ("backtest_weeks", str(s["backtest_weeks"])),
        ("rows_quarantined", f"{s['rows_quarantined']:,}"),
        ("bad_rows_per_month", _num(s["bad_rows_per_month"])),
        ("blocking_checks_fired", str(s["blocking_checks_fired"])),
    ]
    assumptions = [
        (k, layout.plain(v))
        for k, v in data["assumptions"].items()
        if k not in INTERNAL_COLUMNS and v is not None
    ]
    how = r["measured_how"] if s["tickets_per_month_is_measured"] else r["given_how"]
    caveats = [
        r["caveat_router"],
        r["caveat_pilot"].format(w=int(data["assumptions"]["pilot_weeks"])),
        r["caveat_volume"].format(v=s["tickets_per_month"], how=how),
    ]
    quality_columns, quality_rows = _quality_table(data, t["quality"])
    return layout.render(
        "roi_report.html.j2",
        language,
        freshness_markers=Markup(FRESHNESS_START + FRESHNESS_END),
        currency=cur,
        cards=cards,
        band=r["band"].format(h=h, n=int(s["monte_carlo_draws"])),
        band_values=" / ".join(
            f"{_num(s[f'roi_horizon_pct_{p}'])} %" for p in ("p10", "p50", "p90")
        ),
        src=src,
        finops=finops,
        finops_status=status,
        productivity=productivity,
        charts=chart_list,
        quality_columns=quality_columns,
        quality_rows=quality_rows,
        quality_page=layout.page_name(layout.QUALITY_PAGE, language),
        uncertainty=uncertainty,
        measured=measured,
        assumptions=assumptions,
        inventory=[list(row.values()) for row in data["inventory"]],
        audit=[_audit_row(row) for row in data["audit"]],
        caveats=caveats,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=data["git_commit"][:12],
        headline_json=Markup(escape(json.dumps(headline(s), default=str))),
        versions_json=Markup(escape(json.dumps(versions, sort_keys=True))),
        versions_id=VERSIONS_ID,
    )


def restamp(path: Path, current: dict[str, str]) -> bool:
    """Rewrite the STALE banner of the ROI page at `path` for the warehouse's `current` deliveries.

    The page records the deliveries its figures come from; when one of them is no longer current
    (a newer delivery was refused, or its run stopped before the ROI) the page says so at the top,
    naming each source; when they are current again the banner goes. True if the page is stale.
    Called after every page build, so a page written earlier is marked as soon as data moves on.
    """
    page = path.read_text(encoding="utf-8")
    found = re.search(rf'<script type="application/json" id="{VERSIONS_ID}">(.*?)</script>', page)
    start, end = page.find(FRESHNESS_START), page.find(FRESHNESS_END)
    if found is None or start < 0 or end < start:
        return False  # not a page of this version: the next build writes one
    language = re.search(r'<html lang="(\w+)"', page).group(1)
    t = layout.messages(language if language in layout.LANGUAGES else "en")["roi"]
    moved = freshness.changed(json.loads(unescape(found.group(1))), current)
    banner = ""
    if moved:
        items = "".join(
            f"<li>{escape(t['stale_source'].format(source=src, old=old[:12], new=new[:12]))}</li>"
            for src, old, new in moved
        )
        banner = f'<div class="stale"><p><b>{escape(t["stale"])}</b></p><ul>{items}</ul></div>'
    updated = page[: start + len(FRESHNESS_START)] + banner + page[end:]
    if updated != page:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(updated, encoding="utf-8")
        tmp.replace(path)
    return bool(moved)


def restamp_all(folder: Path, current: dict[str, str]) -> list[Path]:
    """Restamp every ROI page (each language) in `folder`; the stale ones."""
    return [p for p in sorted(folder.glob(f"{layout.ROI_PAGE}*.html")) if restamp(p, current)]


def _audit_row(r: dict) -> list:
    started = r["started_at"].strftime("%Y-%m-%d %H:%M") if r["started_at"] else None
    return [
        r["run_id"][:8],
        started,
        r["status"],
        r["launcher"],
        (r["git_commit"] or "")[:12],
        f"{r['checks_passed']} / {r['checks_warned']} / {r['checks_failed']}",
        f"{r['rows_quarantined']:,}",
        r["models_trained"],
        r["promotions"],
    ]


def headline(s: dict) -> dict:
    """The headline figures, machine-readable, so a test can compare the page with the mart."""
    keys = (
        "currency",
        "net_benefit_12m",
        "roi_12m_pct",
        "roi_horizon_pct",
        "payback_month",
        "roi_horizon_pct_p10",
        "roi_horizon_pct_p50",
        "roi_horizon_pct_p90",
        "projected_api_spend_monthly",
        "monthly_api_budget",
    )
    return {k: s[k] for k in keys}
