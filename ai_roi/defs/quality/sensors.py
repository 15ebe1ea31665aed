"""The report pages rebuilt after every run launched outside ai-roi run, once all its checks ran.

A run of everything from the Dagster UI builds reports/quality_page as soon as its own upstream
assets are done, before the checks of the models and the ROI (they are other steps); the pages
would then miss them. `ai-roi run` builds the pages in a second run; this sensor does the same
for every other successful run. After a failed run it builds the quality page alone: it shows the
failure, and marks the ROI report (whose figures are kept) stale.
"""

import dagster as dg

from ai_roi.lib.audit import CLI_TAG
from ai_roi.lib.runs import cursor_after, finished_runs

QUALITY_PAGE = dg.AssetKey(["reports", "quality_page"])
REPORT_KEYS = [
    QUALITY_PAGE,
    dg.AssetKey(["exports", "marts"]),
    dg.AssetKey(["reports", "roi_report"]),
]
REPORTS_TAG = "ai_roi/reports_for"

reports_job = dg.define_asset_job(
    "reports",
    selection=dg.AssetSelection.assets(*REPORT_KEYS),
    description="The quality page, the consumers' export and the ROI report, from the warehouse.",
)


@dg.sensor(
    name="reports_after_runs",
    job=reports_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the quality page, the export and the ROI report after every successful "
    "run not launched by ai-roi run (which builds them itself), so they hold all its checks; "
    "after a failed run, the quality page only (it marks the ROI report stale).",
)
def reports_after_runs(context: dg.SensorEvaluationContext):
    records = finished_runs(
        context, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
    )
    cursor, requests = context.cursor, []
    for record in records:
        run = record.dagster_run
        cursor = cursor_after(record)
        if CLI_TAG in run.tags or REPORTS_TAG in run.tags:
            continue  # the CLI builds its own pages; a reports run needs no pages after it
        if not set(run.asset_selection or []) - set(REPORT_KEYS) and run.asset_selection:
            continue  # a run of the pages alone
        # after a failed run only the quality page (it reports the failure and marks the ROI
        # report stale); the export and the ROI report keep the last good figures
        failed = run.status == dg.DagsterRunStatus.FAILURE
        requests.append(
            dg.RunRequest(
                run_key=f"reports-for-{run.run_id}",
                tags={REPORTS_TAG: run.run_id},
                asset_selection=[QUALITY_PAGE] if failed else None,
            )
        )
    context.update_cursor(cursor)
    return requests or dg.SkipReason("no new run to report on")
