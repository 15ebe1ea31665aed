"""AI ROI: scenarios from params.yaml, the dbt ROI marts, the FinOps budget check and the report."""

import dagster as dg
import mlflow
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from ai_roi.defs.governance.assets import EXPORT_KEY
from ai_roi.defs.marts.assets import TRANSLATOR, build_and_record
from ai_roi.defs.marts.project import dbt_project
from ai_roi.lib import freshness
from ai_roi.lib.history import recorded
from ai_roi.lib.ml_assets import write_json
from ai_roi.lib.rules import md_table
from ai_roi.lib.warehouse import replace_table
from ai_roi.ml import tracking
from ai_roi.params import ParamsError
from ai_roi.reports import layout, roi_report
from ai_roi.resources import (
    MartsExportResource,
    MlflowResource,
    OutputsResource,
    ParamsResource,
)
from ai_roi.roi import scenarios

SCENARIOS_KEY = dg.AssetKey(["roi", "scenarios"])
SUMMARY_KEY = dg.AssetKey(["marts", "mart_roi_summary"])
REPORT_KEY = dg.AssetKey(["reports", "roi_report"])
ROI_TAGS = {"classification": "internal", "domain": "roi"}
# MLflow experiment of the ROI: one run per report, so assumption changes compare side by side.
ROI_EXPERIMENT = "ai_roi"


@dg.asset(key=SCENARIOS_KEY, group_name="roi", kinds={"duckdb"}, tags=ROI_TAGS)
def roi_scenarios(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, params: ParamsResource
) -> dg.MaterializeResult:
    """The ROI assumptions of params.yaml as scenarios: the base case, each assumption swung low and high, and seeded Monte Carlo draws; one row per scenario."""
    try:
        p = params.load()
    except ParamsError as exc:
        raise dg.Failure(str(exc)) from None
    frame = scenarios.build(p.roi, p.seed)
    with duckdb.get_connection() as con:
        replace_table(con, "roi", "scenarios", frame)
    kinds = frame["scenario_kind"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "scenarios_by_kind": dg.MetadataValue.json({k: int(v) for k, v in kinds.items()}),
            "currency": p.roi.currency,
            "seed": p.seed,
            "assumptions": dg.MetadataValue.json(p.roi.assumptions()),
        }
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select="tag:roi",
    name="roi_models",
    dagster_dbt_translator=TRANSLATOR,
)
def roi_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    params: ParamsResource,
):
    """dbt ROI models: measured inputs, cash flow per scenario, summary, tornado and Monte Carlo marts."""
    yield from build_and_record(context, dbt, duckdb, params)


@dg.asset_check(
    asset=SUMMARY_KEY,
    name="api_spend_within_budget",
    description="FinOps: projected monthly AI API spend (ticket volume x messages x tokens x price) "
    "against roi.ai.monthly_api_budget; warns at 80 % of the budget, fails at 100 %.",
    metadata={"dimension": "consistency"},  # spend consistent with the budget the business set
)
def api_spend_within_budget(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        spend, budget, currency, tickets = con.execute(
            "select projected_api_spend_monthly, monthly_api_budget, currency, tickets_per_month"
            " from marts.mart_roi_summary"
        ).fetchone()
        status, share = scenarios.finops_status(spend, budget)
        result = dg.AssetCheckResult(
            passed=status == "ok",
            severity=dg.AssetCheckSeverity.WARN
            if status != "over"
            else dg.AssetCheckSeverity.ERROR,
            metadata={
                "dimension": "consistency",
                "projected_monthly_spend": float(spend),
                "monthly_budget": float(budget),
                "budget_used_pct": round(100 * share, 2),
                "tickets_per_month": float(tickets),
                "currency": currency,
                "summary": f"{100 * share:.1f} % of the monthly API budget "
                f"({spend:,.0f} of {budget:,.0f} {currency})",
            },
        )
        return recorded(context, con, [result], kind="monitor", asset_key=SUMMARY_KEY)[0]


@dg.asset(
    key=REPORT_KEY,
    deps=[EXPORT_KEY],
    group_name="roi",
    kinds={"html", "plotly"},
    tags=ROI_TAGS,
)
def roi_report_page(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    marts_export: MartsExportResource,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """The business owner's report: ROI by axis, cash flow and payback, tornado, uncertainty, support KPIs baseline vs pilot, router automation vs precision, forecast vs actual, data quality; reports/roi_report.html (Korean: roi_report.ko.html). One page per run."""
    roi = params.load().roi
    language = layout.language(roi.report_language)
    with marts_export.read() as con:  # the consumers' read-only path: marts only
        data = roi_report.gather(con, mlflow_store, context.instance)
    path = outputs.path("reports", layout.page_name(layout.ROI_PAGE, language))
    page = roi_report.render(data, language, min_week_tickets=roi.report_min_week_tickets)
    path.write_text(page, encoding="utf-8")
    with duckdb.get_connection() as con:  # the deliveries now current: is the export behind?
        stale = bool(roi_report.restamp_all(path.parent, freshness.current_versions(con)))
    s = data["summary"]
    run_id = _log_to_mlflow(context, mlflow_store, data, language)
    figures = {
        k: round(v, 2) if isinstance(v, float) else v for k, v in roi_report.headline(s).items()
    }
    # the data the figures come from: `ai-roi summary` marks them stale once the warehouse moved on
    figures["data_versions"] = {x["source"]: x["fingerprint"] for x in data["loads"]}
    write_json(outputs.path("metrics", "roi.json"), figures)
    return dg.MaterializeResult(
        metadata={
            "path": str(path),
            "language": language,
            "stale": stale,
            "roi_12m_pct": s["roi_12m_pct"],
            "roi_horizon_pct": s["roi_horizon_pct"],
            "net_benefit_12m": s["net_benefit_12m"],
            "payback_month": s["payback_month"],
            "sources": dg.MetadataValue.json(data["sources"]),
            "mlflow_run_id": run_id,
            "monte_carlo": dg.MetadataValue.md(md_table(data["uncertainty"].to_dict("records"))),
        }
    )


def _log_to_mlflow(context, mlflow_store: MlflowResource, data: dict, language: str) -> str:
    """The assumptions, headline figures, tornado and Monte Carlo band as one MLflow run."""
    experiment = mlflow_store.experiment(ROI_EXPERIMENT)
    with mlflow.start_run(
        experiment_id=experiment, run_name=f"roi-{context.run.run_id[:8]}"
    ) as run:
        mlflow.set_tags(
            {
                "dagster_run_id": context.run.run_id,
                "git_commit": tracking.git_commit(),
                "language": language,
                "data_version": data["sources"]["data_version"],
            }
        )
        mlflow.log_params({k: v for k, v in data["assumptions"].items() if v is not None})
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in roi_report.headline(data["summary"]).items()
                if isinstance(v, int | float)
            }
        )
        mlflow.log_text(data["sensitivity"].to_csv(index=False), "tornado.csv")
        mlflow.log_text(data["uncertainty"].to_csv(index=False), "monte_carlo.csv")
    return run.info.run_id
