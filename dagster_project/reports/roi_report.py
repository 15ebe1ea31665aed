"""The AI ROI report: one self-contained HTML file (plotly charts inline), English or Korean.

`gather` reads the figures from the marts and the MLflow champions; `render` only lays them out,
so every number on the page is one a mart or a tracked run holds, and each chart says which.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from html import escape, unescape
from pathlib import Path

import mlflow
import pandas as pd
import plotly.graph_objects as go

from dagster_project.lib import code_location, freshness
from dagster_project.lib.history import complete_history_runs, quality_states
from dagster_project.lib.quality import DIMENSIONS, dimension_scores
from dagster_project.lib.warehouse import fetch_dicts
from dagster_project.ml import tracking
from dagster_project.reports.quality_page import STYLE, html_table
from dagster_project.roi.scenarios import finops_status

LANGUAGES = ("en", "ko")
# scenario columns that are not the business's assumptions
INTERNAL_COLUMNS = {"scenario_id", "volume_factor", "automation_factor"}
ROUTER, FORECASTER = "intent_router", "demand_forecaster"
# the page's STALE banner sits between these markers; `restamp` rewrites it as data moves on
FRESHNESS_START, FRESHNESS_END = "<!-- freshness -->", "<!-- /freshness -->"
VERSIONS_ID = "roi-data-versions"

TEXT = {
    "en": {
        "title": "Does AI pay off? ROI from measured pipeline results",
        "intro": "Figures come from the warehouse marts and the champion models; the assumptions "
        "come from params.yaml (section roi). Money in {currency}.",
        "net_12m": "Net benefit, first 12 months",
        "roi_12m": "ROI, first 12 months",
        "roi_h": "ROI over {h} months",
        "payback": "Payback month",
        "never": "not within the horizon",
        "band": "Monte Carlo P10 / P50 / P90 of the {h}-month ROI ({n:,} draws)",
        "axes": "ROI by axis (first 12 months)",
        "labour": "Cost reduction: agent time",
        "revenue": "Revenue: better forecasts",
        "risk": "Risk: bad data and SLA breaches",
        "build": "AI build",
        "running": "AI API and running",
        "net": "Net benefit",
        "productivity": "Productivity (not counted twice: its money is the agent time above)",
        "tph": "Tickets per agent-hour",
        "res": "Mean resolution hours",
        "share": "Handled without a person",
        "baseline": "baseline",
        "pilot": "pilot",
        "with_ai": "with AI",
        "cashflow": "Cumulative net cash flow and payback",
        "month": "Month",
        "cumulative": "Cumulative net cash flow",
        "monthly_cost": "Monthly cost of the problem",
        "tornado": "What moves the {h}-month ROI most (each input ±{s:.0%})",
        "low": "input low",
        "high": "input high",
        "roi_pct": "ROI %",
        "uncertainty": "Uncertainty (Monte Carlo over the ranges in params.yaml)",
        "kpis": "Support KPIs per week, baseline vs pilot",
        "tickets": "Tickets opened",
        "router": "Intent router: automation vs precision",
        "coverage": "Share answered automatically",
        "precision": "Precision of automatic answers",
        "operating": "operating point",
        "forecast": "Demand forecast vs actual (one week ahead, backtest)",
        "units": "Units",
        "actual": "actual",
        "model": "forecaster",
        "naive": "naive (last week)",
        "quality": "Data quality per dimension (each asset at its latest check)",
        "score": "Score (% of rows passing)",
        "finops": "FinOps: projected AI API spend",
        "finops_line": "Projected {spend} a month against a budget of {budget} ({pct:.1f} %): {status}.",
        "status": {"ok": "within budget", "warn": "warning, 80 % or more", "over": "over budget"},
        "measured": "Measured inputs",
        "assumptions": "Assumptions (params.yaml, roi)",
        "source": "Source",
        "sources": "Where every figure comes from",
        "metric": "Figure",
        "value": "Value",
        "caveats": "Read with care",
        "caveat_router": "The router's automation rate and precision are measured on the held-out "
        "split of its training data (Banking77), then applied to the ticket volume. Automation "
        "counts only messages of an intent the router learnt, times the share of traffic "
        "expected in scope; messages of no learnt intent go to a person.",
        "caveat_pilot": "The pilot is the last {w} weeks of the ticket data; 'with AI' applies the "
        "measured automation to them. It is a projection, not an observed pilot.",
        "caveat_volume": "Ticket volume: {v:,.0f} a month ({how}).",
        "measured_how": "measured: mean of the complete months in the ticket data",
        "given_how": "given in params.yaml",
        "generated": "Generated {when} from git commit {commit}.",
        "stale": "STALE: these figures are not those of the data now in the warehouse. A newer "
        "delivery arrived and this report was not rebuilt from it (it was refused, or its run did "
        "not reach the ROI); the figures below, and the consumers' export, are those of the deliveries "
        "named here.",
        "stale_source": "{source}: this report comes from delivery {old}; the warehouse now holds "
        "{new}.",
        "inventory": "Data-asset inventory: every asset, its owner and classification",
        "audit": "Audit trail: the latest runs",
        "inventory_cols": ["asset", "group", "owners", "classification", "grain", "checks"],
        "audit_cols": [
            "run",
            "started",
            "status",
            "launcher",
            "git",
            "checks passed / warned / failed",
            "rows quarantined",
            "models trained",
            "promotions",
        ],
        "p": ["P10", "P50", "P90"],
        "metric_names": {
            "roi_12m_pct": "ROI 12 months, %",
            "roi_horizon_pct": "ROI over the horizon, %",
            "net_benefit_horizon": "Net benefit over the horizon",
            "payback_month": "Payback month",
        },
    },
    "ko": {
        "title": "AI는 수익을 내는가? 측정된 파이프라인 결과로 본 ROI",
        "intro": "수치는 웨어하우스 마트와 챔피언 모델에서, 가정은 params.yaml(roi 섹션)에서 "
        "가져왔습니다. 금액 단위: {currency}.",
        "net_12m": "첫 12개월 순편익",
        "roi_12m": "첫 12개월 ROI",
        "roi_h": "{h}개월 ROI",
        "payback": "투자 회수 시점(개월)",
        "never": "기간 내 회수 안 됨",
        "band": "{h}개월 ROI 몬테카를로 P10 / P50 / P90 ({n:,}회 추출)",
        "axes": "축별 ROI (첫 12개월)",
        "labour": "비용 절감: 상담원 시간",
        "revenue": "매출: 더 나은 수요 예측",
        "risk": "리스크: 불량 데이터와 SLA 위반",
        "build": "AI 구축비",
        "running": "AI API·운영비",
        "net": "순편익",
        "productivity": "생산성 (이중 계산하지 않음: 금액은 위의 상담원 시간에 포함)",
        "tph": "상담원 시간당 처리 티켓",
        "res": "평균 해결 시간(시간)",
        "share": "사람 없이 처리된 비율",
        "baseline": "기준",
        "pilot": "파일럿",
        "with_ai": "AI 적용",
        "cashflow": "누적 순현금흐름과 투자 회수 시점",
        "month": "개월",
        "cumulative": "누적 순현금흐름",
        "monthly_cost": "월별 문제 비용",
        "tornado": "{h}개월 ROI에 가장 큰 영향을 주는 입력 (각 ±{s:.0%})",
        "low": "입력 낮음",
        "high": "입력 높음",
        "roi_pct": "ROI %",
        "uncertainty": "불확실성 (params.yaml 범위에 대한 몬테카를로)",
        "kpis": "주별 지원 KPI, 기준 vs 파일럿",
        "tickets": "접수 티켓",
        "router": "의도 라우터: 자동화율 vs 정밀도",
        "coverage": "자동 응답 비율",
        "precision": "자동 응답 정밀도",
        "operating": "운영 지점",
        "forecast": "수요 예측 vs 실제 (1주 앞, 백테스트)",
        "units": "수량",
        "actual": "실제",
        "model": "예측 모델",
        "naive": "단순 예측(지난주)",
        "quality": "차원별 데이터 품질 (자산별 최신 검사 기준)",
        "score": "점수 (통과 행 %)",
        "finops": "FinOps: 예상 AI API 비용",
        "finops_line": "월 예상 {spend}, 예산 {budget} 대비 {pct:.1f} %: {status}.",
        "status": {"ok": "예산 내", "warn": "경고, 80 % 이상", "over": "예산 초과"},
        "measured": "측정된 입력",
        "assumptions": "가정 (params.yaml, roi)",
        "source": "출처",
        "sources": "모든 수치의 출처",
        "metric": "항목",
        "value": "값",
        "caveats": "해석 시 유의사항",
        "caveat_router": "라우터의 자동화율과 정밀도는 학습 데이터(Banking77)의 보류 분할에서 "
        "측정한 뒤 티켓 물량에 적용했습니다. 자동화율은 라우터가 학습한 의도의 메시지만 세고 "
        "범위 안 트래픽 비율을 곱한 값이며, 학습하지 않은 의도의 메시지는 사람에게 갑니다.",
        "caveat_pilot": "파일럿은 티켓 데이터의 마지막 {w}주이며, 'AI 적용'은 측정된 자동화율을 "
        "적용한 예측치로 실제 관측된 파일럿이 아닙니다.",
        "caveat_volume": "티켓 물량: 월 {v:,.0f}건 ({how}).",
        "measured_how": "측정값: 티켓 데이터의 완전한 월 평균",
        "given_how": "params.yaml에 지정",
        "generated": "{when} 생성, git 커밋 {commit}.",
        "stale": "최신 아님: 이 수치는 지금 웨어하우스에 있는 데이터의 수치가 아닙니다. 새 데이터가 "
        "들어왔지만 이 보고서는 그 데이터로 다시 만들어지지 않았습니다(거부되었거나 실행이 ROI까지 "
        "가지 못함). 아래 수치와 소비자용 내보내기(export)는 여기 적힌 데이터의 수치입니다.",
        "stale_source": "{source}: 이 보고서의 데이터 {old}, 웨어하우스의 현재 데이터 {new}.",
        "inventory": "데이터 자산 목록: 모든 자산과 소유자, 분류",
        "audit": "감사 기록: 최근 실행",
        "inventory_cols": ["자산", "그룹", "소유자", "분류", "단위(grain)", "검사 수"],
        "audit_cols": [
            "실행",
            "시작",
            "상태",
            "실행 주체",
            "git",
            "검사 통과 / 경고 / 실패",
            "격리된 행",
            "학습된 모델",
            "승격",
        ],
        "p": ["P10", "P50", "P90"],
        "metric_names": {
            "roi_12m_pct": "12개월 ROI, %",
            "roi_horizon_pct": "전체 기간 ROI, %",
            "net_benefit_horizon": "전체 기간 순편익",
            "payback_month": "투자 회수 시점(개월)",
        },
    },
}


def file_name(language: str) -> str:
    return "roi_report.html" if language == "en" else f"roi_report.{language}.html"


def money(value, currency: str, language: str) -> str:
    """An amount in the reporting currency: no minor unit for KRW, cents for USD."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if currency == "KRW":
        text = f"{abs(value):,.0f}"
        sign = "-" if value < 0 else ""
        return f"{sign}{text}원" if language == "ko" else f"{sign}₩{text}"
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def _frame(con, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


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
        "quality": _quality_by_dimension(_current_quality(con, instance)),
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


def _figure_html(fig: go.Figure, first: bool) -> str:
    fig.update_layout(
        margin={"l": 60, "r": 20, "t": 30, "b": 50}, height=380, template="plotly_white"
    )
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})


def _source(text: str, t: dict) -> str:
    return f'<p class="muted">{escape(t["source"])}: <code>{escape(text)}</code></p>'


def _table(columns: list[str], rows: list, numeric_from: int | None = None) -> str:
    """Rows (sequences) under localised headers; the columns from `numeric_from` on right-aligned."""
    numeric = set(columns[numeric_from:]) if numeric_from is not None else set()
    return html_table([dict(zip(columns, r, strict=True)) for r in rows], columns, numeric)


def _plain(value) -> str:
    """An assumption as written: whole numbers without decimals, others to four figures."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _num(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def render(data: dict, language: str) -> str:
    t = TEXT[language]
    s = data["summary"]
    versions = {x["source"]: x["fingerprint"] for x in data["loads"]}
    cur = s["currency"]
    m = lambda v: money(v, cur, language)  # noqa: E731
    h = int(s["horizon_months"])
    src = data["sources"]
    figures: list[str] = []

    def add(title: str, fig: go.Figure, source: str) -> None:
        figures.append(
            f"<h2>{escape(title)}</h2>" + _figure_html(fig, first=not figures) + _source(source, t)
        )

    # ROI by axis: a waterfall of the first 12 months
    cash = data["cashflow"]
    first_year = cash[cash["month"] <= 12]
    build = float(first_year.loc[first_year["month"] == 0, "ai_cost"].sum())
    running = float(first_year.loc[first_year["month"] > 0, "ai_cost"].sum())
    steps = [
        (t["labour"], s["benefit_cost_reduction_12m"]),
        (t["revenue"], s["benefit_revenue_12m"]),
        (t["risk"], s["benefit_risk_12m"]),
        (t["build"], -build),
        (t["running"], -running),
    ]
    add(
        t["axes"],
        go.Figure(
            go.Waterfall(
                x=[name for name, _ in steps] + [t["net"]],
                y=[value for _, value in steps] + [0],
                measure=["relative"] * len(steps) + ["total"],
                text=[m(v) for _, v in steps] + [m(s["net_benefit_12m"])],
                textposition="outside",
            )
        ).update_layout(yaxis_title=cur),
        src["axes"],
    )

    # cumulative cash flow and the payback point
    monthly = cash.groupby("month", as_index=False).agg(
        cumulative=("cumulative_net_cash_flow", "first"),
        baseline=("baseline_cost", "sum"),
        with_ai=("with_ai_cost", "sum"),
        ai_cost=("ai_cost", "sum"),
    )
    fig = go.Figure(
        go.Scatter(x=monthly["month"], y=monthly["cumulative"], name=t["cumulative"], mode="lines")
    )
    fig.add_bar(
        x=monthly["month"],
        y=monthly["baseline"],
        name=f"{t['monthly_cost']}: {t['baseline']}",
        opacity=0.35,
    )
    fig.add_bar(
        x=monthly["month"],
        y=monthly["with_ai"] + monthly["ai_cost"],
        name=f"{t['monthly_cost']}: {t['with_ai']}",
        opacity=0.35,
    )
    if s["payback_month"] is not None:
        pb = int(s["payback_month"])
        fig.add_vline(x=pb, line_dash="dash")
        fig.add_annotation(x=pb, y=0, text=f"{t['payback']}: {pb}", showarrow=True)
    fig.add_hline(y=0, line_width=1)
    add(
        t["cashflow"],
        fig.update_layout(xaxis_title=t["month"], yaxis_title=cur, barmode="overlay"),
        src["cashflow"],
    )

    # tornado
    sens = data["sensitivity"].head(12).iloc[::-1]
    base = float(sens["base_roi_horizon_pct"].iloc[0]) if len(sens) else 0.0
    fig = go.Figure()
    fig.add_bar(
        y=sens["assumption"],
        x=sens["roi_horizon_pct_low"] - base,
        base=base,
        orientation="h",
        name=t["low"],
    )
    fig.add_bar(
        y=sens["assumption"],
        x=sens["roi_horizon_pct_high"] - base,
        base=base,
        orientation="h",
        name=t["high"],
    )
    share = float(data["assumptions"]["sensitivity"])
    add(
        t["tornado"].format(h=h, s=share),
        fig.update_layout(barmode="overlay", xaxis_title=t["roi_pct"], height=460),
        src["tornado"],
    )

    # KPI trends, baseline vs pilot
    prod = data["productivity"]
    fig = go.Figure()
    for period in ("baseline", "pilot"):
        part = prod[prod["period"] == period]
        fig.add_bar(
            x=part["week_start"], y=part["tickets_opened"], name=f"{t['tickets']} ({t[period]})"
        )
        fig.add_scatter(
            x=part["week_start"],
            y=part["mean_resolution_hours"],
            yaxis="y2",
            mode="lines+markers",
            name=f"{t['res']} ({t[period]})",
        )
    pilot = prod[prod["period"] == "pilot"]
    fig.add_scatter(
        x=pilot["week_start"],
        y=pilot["mean_resolution_hours_with_ai"],
        yaxis="y2",
        mode="lines",
        line={"dash": "dot"},
        name=f"{t['res']} ({t['pilot']}, {t['with_ai']})",
    )
    fig.update_layout(
        yaxis={"title": t["tickets"]},
        yaxis2={"title": t["res"], "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "y": -0.2},
        height=440,
    )
    add(t["kpis"], fig, src["kpis"])

    # router curve
    curve = data["router_curve"]
    fig = go.Figure()
    if len(curve):
        fig.add_scatter(
            x=curve["coverage"], y=curve["precision"], mode="lines", name=t["precision"]
        )
    fig.add_scatter(
        x=[s["automation_rate"]],
        y=[s["auto_precision"]],
        mode="markers+text",
        marker={"size": 12},
        text=[t["operating"]],
        textposition="bottom right",
        name=t["operating"],
    )
    add(
        t["router"],
        fig.update_layout(xaxis_title=t["coverage"], yaxis_title=t["precision"]),
        src["router"],
    )

    # forecast vs actual
    fc = data["forecast"]
    fig = go.Figure()
    for column in ("actual", "model", "naive"):
        fig.add_scatter(x=fc["week_start"], y=fc[column], mode="lines+markers", name=t[column])
    add(t["forecast"], fig.update_layout(yaxis_title=t["units"]), src["forecast"])

    # data quality per dimension
    q = data["quality"]
    fig = go.Figure(go.Bar(x=q["dimension"], y=q["score"], text=q["score"], textposition="outside"))
    add(
        t["quality"],
        fig.update_layout(yaxis_title=t["score"], yaxis_range=[0, 105]),
        src["quality"],
    )

    status, used = finops_status(s["projected_api_spend_monthly"], s["monthly_api_budget"])
    finops = t["finops_line"].format(
        spend=m(s["projected_api_spend_monthly"]),
        budget=m(s["monthly_api_budget"]),
        pct=100 * used,
        status=t["status"][status],
    )
    payback = str(s["payback_month"]) if s["payback_month"] is not None else t["never"]
    cards = [
        (t["net_12m"], m(s["net_benefit_12m"])),
        (t["roi_12m"], f"{_num(s['roi_12m_pct'])} %"),
        (t["roi_h"].format(h=h), f"{_num(s['roi_horizon_pct'])} %"),
        (t["payback"], payback),
    ]
    cards_html = "".join(
        f'<div class="card"><span class="muted">{escape(a)}</span><b>{escape(b)}</b></div>'
        for a, b in cards
    )
    band = t["band"].format(h=h, n=int(s["monte_carlo_draws"]))
    band_values = " / ".join(f"{_num(s[f'roi_horizon_pct_{p}'])} %" for p in ("p10", "p50", "p90"))
    productivity = [
        (f"{t['tph']} ({t['baseline']})", _num(s["tickets_per_agent_hour_baseline"], 2)),
        (f"{t['tph']} ({t['with_ai']})", _num(s["tickets_per_agent_hour_with_ai"], 2)),
        (f"{t['res']} ({t['baseline']})", _num(s["mean_resolution_hours_baseline"])),
        (f"{t['res']} ({t['pilot']})", _num(s["mean_resolution_hours_pilot"])),
        (
            f"{t['res']} ({t['pilot']}, {t['with_ai']})",
            _num(s["mean_resolution_hours_pilot_with_ai"]),
        ),
        (t["share"], f"{100 * s['share_without_person_with_ai']:.1f} %"),
    ]
    uncertainty = [
        [t["metric_names"].get(metric, metric)]
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
        (k, _plain(v))
        for k, v in data["assumptions"].items()
        if k not in INTERNAL_COLUMNS and v is not None
    ]
    how = t["measured_how"] if s["tickets_per_month_is_measured"] else t["given_how"]
    caveats = [
        t["caveat_router"],
        t["caveat_pilot"].format(w=int(data["assumptions"]["pilot_weeks"])),
        t["caveat_volume"].format(v=s["tickets_per_month"], how=how),
    ]
    sources = "".join(
        f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>" for k, v in src.items()
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t["title"])}</title><style>{STYLE}</style></head><body>
{FRESHNESS_START}{FRESHNESS_END}
<h1>{escape(t["title"])}</h1>
<p>{escape(t["intro"].format(currency=cur))}</p>
<div class="cards">{cards_html}</div>
<p><b>{escape(band)}:</b> {escape(band_values)}</p>
{_source(src["headline"], t)}
<p><b>{escape(t["finops"])}:</b> <span class="finops-{status}">{escape(finops)}</span></p>
{_source(src["finops"], t)}
<h2>{escape(t["productivity"])}</h2>
{_table([t["metric"], t["value"]], productivity, 1)}
{_source(src["kpis"], t)}
{"".join(figures)}
<h2>{escape(t["uncertainty"])}</h2>
{_table([t["metric"], *t["p"]], uncertainty, 1)}
{_source(src["uncertainty"], t)}
<h2>{escape(t["measured"])}</h2>
{_table([t["metric"], t["value"]], measured, 1)}
<h2>{escape(t["assumptions"])}</h2>
{_table([t["metric"], t["value"]], assumptions, 1)}
<h2>{escape(t["inventory"])}</h2>
{_table(t["inventory_cols"], [list(r.values()) for r in data["inventory"]])}
{_source(src["inventory"], t)}
<h2>{escape(t["audit"])}</h2>
{_table(t["audit_cols"], [_audit_row(r) for r in data["audit"]])}
{_source(src["audit"], t)}
<h2>{escape(t["caveats"])}</h2>
<ul>{"".join(f"<li>{escape(c)}</li>" for c in caveats)}</ul>
<h2>{escape(t["sources"])}</h2>
<table>{sources}</table>
<p class="muted">{escape(t["generated"].format(when=when, commit=data["git_commit"][:12]))}</p>
<script type="application/json" id="roi-figures">{escape(json.dumps(headline(s), default=str))}</script>
<script type="application/json" id="{VERSIONS_ID}">{escape(json.dumps(versions, sort_keys=True))}</script>
</body></html>
"""


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
    t = TEXT[language if language in TEXT else "en"]
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
    return [p for p in sorted(folder.glob("roi_report*.html")) if restamp(p, current)]


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
