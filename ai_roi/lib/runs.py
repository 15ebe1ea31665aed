"""Finished Dagster runs after a sensor's cursor: what the audit and report sensors read."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# Runs are read again from a little before the cursor: two runs may finish in the same instant,
# and every sensor's own bookkeeping (one audit row, one run key per run) makes a re-read harmless.
OVERLAP_SECONDS = 5.0
BATCH = 50


def finished_runs(context: dg.SensorEvaluationContext, statuses=FINISHED) -> list:
    """Run records with one of `statuses` updated after the cursor, oldest first (BATCH at most)."""
    since = None
    if context.cursor:
        since = datetime.fromtimestamp(float(context.cursor) - OVERLAP_SECONDS, UTC)
    return list(
        context.instance.get_run_records(
            filters=dg.RunsFilter(statuses=statuses, updated_after=since),
            order_by="update_timestamp",
            ascending=True,
            limit=BATCH,
        )
    )


def cursor_after(record) -> str:
    """The cursor that marks `record` as read."""
    return str(record.update_timestamp.timestamp())


def complete_runs(instance: dg.DagsterInstance, run_ids) -> set[str]:
    """The runs of `run_ids` that ran to their end: their check history is whole.

    A run that succeeded, or failed at a step (a blocking check, a refused file), is complete. A
    run killed mid-way (marked failed later with no failed step), cancelled, still going, or
    unknown to this instance left a partial history, which would draw false dips in the trends.
    """
    complete = set()
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        if run.status == dg.DagsterRunStatus.SUCCESS:
            complete.add(run_id)
        elif run.status == dg.DagsterRunStatus.FAILURE:
            failed_steps = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1
            ).records
            if failed_steps:
                complete.add(run_id)
    return complete


PID_TAG = "ai_roi/pid"  # the process running a run's steps, set when its warehouse lock is taken


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every run still 'started' whose process is gone (killed, crashed, power cut).

    Called by each run as it takes the warehouse lock, so a run killed mid-way is not left
    "Started" forever; the daemon's run monitoring does the same for runs it launched. Runs that
    have not said which process runs them (just launched) are left alone.
    """
    dead = []
    for run in instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    ):
        pid = run.tags.get(PID_TAG)
        if pid and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            instance.report_run_failed(
                run,
                message=f"its process (pid {pid}) is gone: the run was killed or crashed mid-way. "
                "Marked failed by the next run; what it had not published was never published.",
            )
            dead.append(run.run_id)
    return dead
