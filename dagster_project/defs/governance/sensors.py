"""Audit runs launched from the Dagster UI (or a schedule): `ai-roi run` audits its own."""

import dagster as dg
import duckdb

from dagster_project import settings
from dagster_project.lib import audit
from dagster_project.lib.warehouse import ensure_schemas


def audit_run(context, run: dg.DagsterRun) -> dg.SkipReason | None:
    if audit.CLI_TAG in run.tags:
        return dg.SkipReason(f"run {run.run_id} was launched by ai-roi run, which audits it")
    selection = ", ".join(sorted(k.to_user_string() for k in run.asset_selection or [])) or "*"
    try:
        with duckdb.connect(str(settings.duckdb_path())) as con:
            ensure_schemas(con)
            record = audit.collect(
                context.instance,
                [run.run_id],
                con,
                selection=selection,
                lock=settings.PROJECT_ROOT / "dvc.lock",
                launched_by_name=run.tags.get("dagster/user"),
                launched_from="dagster",
            )
            audit.write(con, record)
    except duckdb.IOException as exc:  # another run holds the warehouse: DuckDB has one writer
        return dg.SkipReason(f"warehouse busy, run {run.run_id} not audited: {exc}")
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="audit_successful_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One governance.audit_log row for every successful run not launched by ai-roi run.",
)
def audit_successful_runs(context: dg.RunStatusSensorContext):
    return audit_run(context, context.dagster_run)


@dg.run_failure_sensor(
    name="audit_failed_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One governance.audit_log row for every failed run not launched by ai-roi run.",
)
def audit_failed_runs(context: dg.RunFailureSensorContext):
    return audit_run(context, context.dagster_run)
