"""The local event log with its connections kept open stores what Dagster's own stores, in the same
files, and keeps a bounded number of databases open."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)

from ai_roi.lib.event_log import RUN_DATABASES_KEPT, PooledSqliteEventLogStorage


def _materialisations(run_id: str, months: int) -> list[EventLogEntry]:
    return [
        EventLogEntry(
            error_info=None,
            level=10,
            user_message="",
            run_id=run_id,
            timestamp=time.time(),
            dagster_event=DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name="job",
                step_key="monthly_marts",
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization(
                        asset_key=dg.AssetKey(["marts", "fct_order_lines"]),
                        partition=f"2011-{month:02d}-01",
                    )
                ),
            ),
        )
        for month in range(1, months + 1)
    ]


def test_events_it_stores_are_read_back_by_dagsters_own_storage(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    run_id = "a" * 32
    for entry in _materialisations(run_id, 12):
        pooled.store_event(entry)
    pooled.dispose()

    dagsters = SqliteEventLogStorage(str(tmp_path))
    records = dagsters.get_records_for_run(run_id, limit=100).records
    assert [r.event_log_entry.dagster_event.partition for r in records] == [
        f"2011-{m:02d}-01" for m in range(1, 13)
    ]
    # the index holds them too: the partitions Dagster shows as materialised
    assert dagsters.get_materialized_partitions(dg.AssetKey(["marts", "fct_order_lines"])) == {
        f"2011-{m:02d}-01" for m in range(1, 13)
    }


def test_only_the_last_runs_databases_stay_open(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    runs = [f"{i:032x}" for i in range(RUN_DATABASES_KEPT + 3)]
    for run_id in runs:
        for entry in _materialisations(run_id, 2):
            pooled.store_event(entry)
    assert list(pooled._engines) == [*runs[-RUN_DATABASES_KEPT:], INDEX_SHARD_NAME]
    # a run whose database was closed is read again from its file
    assert len(pooled.get_records_for_run(runs[0], limit=10).records) == 2
    pooled.dispose()
    assert not pooled._engines


def test_a_wiped_log_starts_empty_and_stores_again(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    for entry in _materialisations("b" * 32, 3):
        pooled.store_event(entry)
    pooled.wipe()
    assert not pooled.get_records_for_run("b" * 32, limit=10).records
    for entry in _materialisations("b" * 32, 1):
        pooled.store_event(entry)
    assert len(pooled.get_records_for_run("b" * 32, limit=10).records) == 1
    pooled.dispose()
