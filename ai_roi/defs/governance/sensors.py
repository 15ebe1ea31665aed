"""Audit runs launched from the Dagster UI or a schedule (`ai-roi run` audits its own)."""

import dagster as dg
from dagster_duckdb import DuckDBResource
from duckdb import IOException

from ai_roi import settings
from ai_roi.lib import audit
from ai_roi.lib.runs import cursor_after, finished_runs
from ai_roi.lib.warehouse import ensure_schemas


@dg.sensor(
    name="audit_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One governance.audit_log row for every finished run not launched by ai-roi run; "
    "a run the sensor cannot audit yet (the warehouse is busy) is audited on a later tick.",
)
def audit_runs(context: dg.SensorEvaluationContext, duckdb: DuckDBResource):
    records = finished_runs(context)
    cursor, audited = context.cursor, []
    try:
        with duckdb.get_connection() as con:
            ensure_schemas(con)
            done = {r for (r,) in con.execute("select run_id from governance.audit_log").fetchall()}
            for record in records:
                run = record.dagster_run
                if audit.CLI_TAG not in run.tags and run.run_id not in done:
                    audit.write(con, _collect(context.instance, run, con))
                    audited.append(run.run_id)
                cursor = cursor_after(record)
    except IOException as exc:  # another run holds the warehouse: DuckDB has one writer
        context.update_cursor(cursor)
        return dg.SkipReason(
            f"warehouse busy ({exc}); audited {len(audited)} run(s), the rest on the next tick"
        )
    context.update_cursor(cursor)
    return dg.SkipReason(f"audited {len(audited)} run(s): {', '.join(audited) or 'none new'}")


def _collect(instance: dg.DagsterInstance, run: dg.DagsterRun, con) -> audit.AuditRecord:
    selection = ", ".join(sorted(k.to_user_string() for k in run.asset_selection or [])) or "*"
    return audit.collect(
        instance,
        [run.run_id],
        con,
        selection=selection,
        lock=settings.PROJECT_ROOT / "dvc.lock",
        launched_by_name=run.tags.get("dagster/user"),
        launched_from="dagster",
    )
