"""Runs that start themselves: one when a new file lands, and a weekly refresh.

The sensor looks only at the files the source catalogue delivers (each listed path, each file a
glob matches), by size and modification time: it never opens the warehouse, so it never waits on
a running pipeline's lock. A new or changed file requests a run of every source's raw load and all
that is downstream: a file loaded before is a no-op there, a new one is a new delivery, and the
models retrain only when their training data changed (lib/ml_assets.py).
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from ai_roi.lib import partitions
from ai_roi.lib.run_stamp import file_signatures
from ai_roi.params import AutomationParams
from ai_roi.resources import SourceCatalogResource
from ai_roi.sources import SourceConfigError

TRIGGER_TAG = "ai_roi/trigger"

pipeline_job = dg.define_asset_job(
    "pipeline",
    selection=dg.AssetSelection.all().materializable(),
    description="Everything, as `ai-roi run` builds it: new files loaded, models retrained where "
    "their data, settings or code changed, the ROI and quality pages rebuilt.",
)


def changes(seen: dict, now: dict) -> dict[str, list[str]]:
    """{source: [file names new, changed or gone]} between two signatures."""
    out = {}
    for source, files in now.items():
        before = seen.get(source, {})
        moved = sorted(
            path.rsplit("/", 1)[-1]
            for path in set(files) | set(before)
            if files.get(path) != before.get(path)
        )
        if moved:
            out[source] = moved
    return out


@dg.sensor(
    name="new_deliveries",
    job=pipeline_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the pipeline job when a file appears in (or changes, or leaves) a "
    "path or glob of the source catalogue. Its first look records the files as they are.",
)
def new_deliveries(context: dg.SensorEvaluationContext, catalog: SourceCatalogResource):
    try:
        now = file_signatures(catalog.load())
    except SourceConfigError as error:
        return dg.SkipReason(f"the source catalogue cannot be read: {error}")
    if context.cursor is None:
        context.update_cursor(json.dumps(now, sort_keys=True))
        count = sum(len(files) for files in now.values())
        return dg.SkipReason(
            f"first look: {count} files recorded; a new or changed file launches a run"
        )
    moved = changes(json.loads(context.cursor), now)
    context.update_cursor(json.dumps(now, sort_keys=True))
    if not moved:
        return dg.SkipReason("no new or changed file")
    what = "; ".join(f"{source}: {', '.join(names)}" for source, names in sorted(moved.items()))
    key = hashlib.sha256(json.dumps(now, sort_keys=True).encode()).hexdigest()[:16]
    return dg.RunRequest(
        run_key=f"deliveries-{key}", tags={TRIGGER_TAG: what[:250], **_every_month(context)}
    )


def _every_month(context) -> dict[str, str]:
    """Tags that make a pipeline run build every month of the period marts, as `ai-roi run` does."""
    job = context.repository_def.get_job(pipeline_job.name)
    return partitions.range_tags(job.partitions_def) if job.partitions_def else {}


def weekly_refresh(when: AutomationParams) -> dg.ScheduleDefinition:
    """The schedule of the whole pipeline (params.yaml automation.refresh_cron, timezone)."""

    @dg.schedule(
        name="weekly_refresh",
        job=pipeline_job,
        cron_schedule=when.refresh_cron,
        execution_timezone=when.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Loads what arrived, retrains where the data or settings changed and rebuilds "
        "the ROI and quality pages; when is automation.refresh_cron in params.yaml.",
    )
    def refresh(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(tags={TRIGGER_TAG: "schedule", **_every_month(context)})

    return refresh
