"""The ROI on the fixtures: the report shows what the marts hold, assumptions move it, FinOps warns.

One pipeline build per module (`built`); the later tests re-run only the ROI group on it, as a
user who edits params.yaml would.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import (
    check_evaluations,
    materialization_metadata,
    mlflow_client,
    run_dbt,
    run_pipeline,
)

ROI = 'group:roi or group:governance or key:"marts/mart_data_quality" or key:"marts/mart_data_versions"'


def _summary(wh) -> dict:
    with wh.connect() as con:
        cursor = con.execute("select * from marts.mart_roi_summary")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def _report(wh, name: str = "roi_report.html") -> str:
    return (wh.root / "outputs" / "reports" / name).read_text(encoding="utf-8")


def _headline(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="roi-figures">(.*?)</script>', html)
    assert match, "the report carries its headline figures"
    return json.loads(match.group(1).replace("&quot;", '"'))


def _cards(html: str) -> list[tuple[str, str]]:
    """The headline cards as a reader sees them: label and the text of the figure."""
    found = re.findall(
        r'<div class="card"><span class="muted">(.*?)</span><b>(.*?)</b></div>', html
    )
    assert len(found) == 4, found
    return found


def _figure(text: str) -> float:
    """A rendered figure as a number: '₩105,482,916' or '134.9 %' or '-₩3,200'."""
    number = re.sub(r"[^0-9.\-]", "", text.replace("−", "-"))
    return float(number)


def test_report_cards_show_the_figures_the_marts_hold(built):
    """What the owner reads, parsed from the page, against the mart."""
    wh, _ = built
    summary = _summary(wh)
    (_, net), (_, roi), (_, roi_horizon), (_, payback) = _cards(_report(wh))
    # shown rounded to a whole won and to 0.1 percentage point
    assert abs(_figure(net) - summary["net_benefit_12m"]) <= 0.5
    assert abs(_figure(roi) - summary["roi_12m_pct"]) <= 0.05
    assert abs(_figure(roi_horizon) - summary["roi_horizon_pct"]) <= 0.05
    if summary["payback_month"] is None:
        assert not payback.isdigit()
    else:
        assert payback == str(summary["payback_month"])


def test_report_shows_the_figures_the_marts_hold(built):
    wh, _ = built
    summary = _summary(wh)
    html = _report(wh)
    shown = _headline(html)
    for key, value in shown.items():
        if isinstance(value, float):
            assert value == pytest.approx(summary[key]), key
        else:
            assert value == summary[key], key
    # every chart is there, drawn by plotly from the page itself
    for title in (
        "ROI by axis",
        "Cumulative net cash flow and payback",
        "What moves the",
        "Support KPIs per week, baseline vs pilot",
        "Intent router: automation vs precision",
        "Demand forecast vs actual",
        "Data quality per dimension",
    ):
        assert title in html, title
    assert html.count('class="plotly-graph-div"') == 7
    assert html.count("plotly.js v") == 1  # the library inline once: no server, no CDN
    # each figure names its source: the mart, the MLflow runs, the data version
    for source in ("marts.mart_roi_cashflow_monthly", "marts.mart_roi_sensitivity", "MLflow run"):
        assert source in html
    fingerprints = [f for (f,) in wh.query("select fingerprint from raw._loads where is_current")]
    assert all(f[:12] in html for f in fingerprints)


def test_the_report_logs_its_assumptions_and_figures_to_mlflow(built):
    wh, result = built
    run_id = materialization_metadata(result, "reports/roi_report")["mlflow_run_id"]
    run = mlflow_client().get_run(run_id)
    summary = _summary(wh)
    assert run.data.metrics["roi_12m_pct"] == pytest.approx(summary["roi_12m_pct"])
    assert run.data.metrics["net_benefit_12m"] == pytest.approx(summary["net_benefit_12m"])
    cost = wh.scalar("select agent_cost_per_hour from roi.scenarios where scenario_id = 'base'")
    assert float(run.data.params["agent_cost_per_hour"]) == cost
    assert run.data.tags["dagster_run_id"] == result.run_id


def test_marts_agree_with_each_other(built):
    wh, _ = built
    s = _summary(wh)
    # the summary's 12 months are the cash-flow mart's months 0..12
    benefit, cost = wh.query(
        "select sum(benefit), sum(ai_cost) from marts.mart_roi_cashflow_monthly where month <= 12"
    )[0]
    assert s["benefit_12m"] == pytest.approx(benefit)
    assert s["ai_cost_12m"] == pytest.approx(cost)
    assert s["roi_12m_pct"] == pytest.approx(100 * (benefit - cost) / cost)
    # payback: the first month the cumulative net cash flow is no longer negative
    cumulative = wh.query(
        "select distinct month, cumulative_net_cash_flow from marts.mart_roi_cashflow_monthly"
        " order by month"
    )
    first = next((m for m, c in cumulative if m >= 1 and c >= 0), None)
    assert s["payback_month"] == first
    # the measured automation rate is the routed messages' share sent to `auto`
    auto = wh.scalar("select avg((route = 'auto')::int) from ml.routed_messages")
    assert s["automation_rate"] == pytest.approx(auto)
    # P10 <= P50 <= P90 over the seeded draws, and the tornado ranks by swing
    assert s["roi_horizon_pct_p10"] <= s["roi_horizon_pct_p50"] <= s["roi_horizon_pct_p90"]
    swings = [
        r
        for (r,) in wh.query(
            "select roi_swing_pct_points from marts.mart_roi_sensitivity order by rank"
        )
    ]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0


def test_dbt_unit_tests_pass_including_the_worked_example(built, tmp_path):
    wh, _ = built
    code, results = run_dbt(["test", "--select", "test_type:unit"], wh.db_path, tmp_path)
    assert code == 0, {name: r["message"] for name, r in results.items() if r["status"] != "pass"}
    assert results["roi_worked_example_from_the_seed_framework"]["status"] == "pass"
    name = "roi_payback_is_the_first_month_cumulative_net_is_non_negative"
    assert results[name]["status"] == "pass"


def test_changing_one_assumption_changes_the_roi_accordingly(built):
    wh, _ = built
    before = _summary(wh)
    cost = wh.scalar("select agent_cost_per_hour from roi.scenarios where scenario_id = 'base'")
    wh.write_params(roi={"support": {"agent_cost_per_hour": cost * 2}})
    try:
        result = run_pipeline(ROI)
        assert result.success
        after = _summary(wh)
    finally:
        wh.write_params()
    # agent time saved is linear in its cost; nothing else depends on it
    assert after["benefit_cost_reduction_12m"] == pytest.approx(
        2 * before["benefit_cost_reduction_12m"]
    )
    for unchanged in ("benefit_revenue_12m", "benefit_risk_12m", "ai_cost_12m", "automation_rate"):
        assert after[unchanged] == pytest.approx(before[unchanged]), unchanged
    assert after["roi_12m_pct"] > before["roi_12m_pct"]
    assert after["net_benefit_12m"] - before["net_benefit_12m"] == pytest.approx(
        before["benefit_cost_reduction_12m"]
    )
    # the report was rewritten from the new marts
    assert _headline(_report(wh))["roi_12m_pct"] == pytest.approx(after["roi_12m_pct"])


def test_an_invalid_assumption_stops_the_roi_and_names_the_field(built):
    wh, _ = built
    before = _summary(wh)
    wh.write_params(roi={"ai": {"build_cost": -1}})
    try:
        result = run_pipeline(ROI)
    finally:
        wh.write_params()
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert any(
        "roi.ai.build_cost" in (e.step_failure_data.user_failure_data.description or "")
        for e in failures
        if e.step_failure_data.user_failure_data is not None
    )
    assert _summary(wh) == before  # the last good marts are untouched


@pytest.mark.parametrize(
    ("share", "passed", "severity"),
    [(0.9, False, "WARN"), (1.25, False, "ERROR"), (0.5, True, "WARN")],
)
def test_finops_check_warns_at_80_and_fails_at_100_percent_of_budget(
    built, share, passed, severity
):
    wh, _ = built
    projected = _summary(wh)["projected_api_spend_monthly"]
    wh.write_params(roi={"ai": {"monthly_api_budget": projected / share}})
    try:
        result = run_pipeline(ROI)
    finally:
        wh.write_params()
    check = check_evaluations(result)["api_spend_within_budget"]
    assert check.passed is passed
    if not passed:
        assert check.severity.value == severity
    assert check.metadata["projected_monthly_spend"].value == pytest.approx(projected)
    assert check.metadata["budget_used_pct"].value == pytest.approx(100 * share, abs=0.01)
    recorded = wh.scalar(
        "select count(*) from quality.check_results where check_name = 'api_spend_within_budget'"
        " and run_id = ?",
        [result.run_id],
    )
    assert recorded == 1


def test_korean_report(built, monkeypatch):
    wh, _ = built
    monkeypatch.setenv("AI_ROI_REPORT_LANG", "ko")
    result = run_pipeline('key:"reports/roi_report"')
    assert result.success
    html = _report(wh, "roi_report.ko.html")
    assert '<html lang="ko">' in html
    assert "축별 ROI" in html and "누적 순현금흐름" in html
    assert _headline(html) == _headline(_report(wh))
    assert re.search(r"[\d,]+원", html)  # won amounts in the Korean style


def test_each_sources_quality_cell_is_coloured_by_its_status_in_every_language(built, monkeypatch):
    """The per-source quality table: every dimension's cell has its status as its class, 'not
    checked' included, whatever the words it shows ('warning' in English, '경고' in Korean)."""
    wh, _ = built
    cells = {}
    for language, name in (("en", "roi_report.html"), ("ko", "roi_report.ko.html")):
        monkeypatch.setenv("AI_ROI_REPORT_LANG", language)
        assert run_pipeline('key:"reports/roi_report"').success
        table = _report(wh, name).split('<a href="quality')[0].rsplit("<table>", 1)[1]
        cells[language] = re.findall(r'<td class="(\w+)">([^<]*)</td>', table)
        # one row per source (its name first), one classed cell per dimension
        assert len(cells[language]) == 5 * table.count("<tr><td>"), language
    assert cells["en"] and [c for c, _ in cells["en"]] == [c for c, _ in cells["ko"]]
    assert {"warn", "pass", "none"} <= {c for c, _ in cells["ko"]}
    assert all(text.startswith("경고") for c, text in cells["ko"] if c == "warn")


def test_inventory_lists_every_asset_in_the_mart_and_the_report(built):
    from ai_roi.definitions import defs

    wh, _ = built
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    rows = wh.query(
        "select asset_key, owners, classification, grain from marts.mart_asset_inventory"
    )
    assert {r[0] for r in rows} == keys
    assert all(owners and classification and grain for _, owners, classification, grain in rows)
    html = _report(wh)
    assert "Data-asset inventory" in html and "Audit trail" in html
    assert all(f"<td>{key}</td>" in html for key in keys)


def test_a_rerun_on_the_same_data_reproduces_every_roi_figure_exactly(built):
    from tests.fingerprints import table_fingerprint

    wh, _ = built

    def fingerprints() -> dict[str, str]:
        with wh.connect() as con:
            tables = [
                t
                for (t,) in con.execute(
                    "select table_name from duckdb_tables() where schema_name = 'marts'"
                    " and table_name like 'mart_roi%' order by 1"
                ).fetchall()
            ]
            return {t: table_fingerprint(con, f"marts.{t}") for t in tables}

    assert run_pipeline(ROI).success
    first = fingerprints()
    assert run_pipeline(ROI).success
    assert fingerprints() == first and len(first) >= 5


def test_rows_delivered_again_in_an_overlapping_export_are_not_risk_averted(built):
    """A second export that repeats part of the first: its copies are held back, counted once,
    and the risk axis does not count them as bad decisions averted."""
    import csv
    import gzip
    import io

    from tests.conftest import FIXTURE_FILES, FIXTURES

    wh, _ = built
    before = wh.scalar("select rows_quarantined from marts.mart_roi_summary")
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    overlap = rows[: 1 + len(rows) // 50]  # the header and the first 2 % of the lines again
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(overlap)
    again = wh.root / "orders_overlap.csv"
    again.write_text(out.getvalue(), encoding="utf-8")
    files = {**FIXTURE_FILES, "order_lines": [*FIXTURE_FILES["order_lines"], {"path": str(again)}]}
    # the held-back copies count against max_quarantine_share like any quarantined row
    wh.write_catalog(files=files, order_lines={"max_quarantine_share": 0.2})
    try:
        selection = 'key:"raw/order_lines" or key:"staged/order_lines" or group:marts or ' + ROI
        assert run_pipeline(selection).success
        copies = wh.scalar(
            "select count(*) from quarantine.rows where rule = 'order_line_in_other_file'"
        )
        assert (
            copies >= len(overlap) - 1 - 50
        )  # exact duplicates within the file stay what they were
        assert wh.scalar("select rows_quarantined from marts.mart_roi_summary") == before
    finally:
        wh.write_catalog()
