"""Runs that die or collide: a killed run is marked failed and the next one recovers; a Dagster
run started while another run holds the warehouse refuses at once and names it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from ai_roi.cli import failure_reasons
from ai_roi.lib.runs import PID_TAG
from tests.conftest import HOLD_RUN_LOCK, hold_elsewhere, run_pipeline

DATA = "group:raw or group:staged or group:stg or group:marts"
AI_ROI = str(Path(sys.executable).with_name("ai-roi"))


def test_a_dagster_run_refuses_while_another_run_holds_the_warehouse(warehouse):
    """A run as the UI, a sensor or a schedule launches it, during an `ai-roi run`."""
    holder = hold_elsewhere(HOLD_RUN_LOCK, warehouse.db_path)
    try:
        result = run_pipeline("group:raw")
        assert not result.success
        reasons = " ".join(failure_reasons(result))
        assert "another pipeline run is using the warehouse" in reasons
        assert f"pid {holder.pid}" in reasons
        assert not warehouse.db_path.exists()  # nothing was written
    finally:
        holder.kill()
        holder.wait()
    assert run_pipeline("group:raw").success  # the lock went with its holder


def _started_run(instance_home: Path, pid: int, timeout: float = 180) -> str:
    """The id of the run process `pid` is running, once it has taken the warehouse."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with dg.DagsterInstance.from_config(str(instance_home)) as instance:
            for run in instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
            ):
                if run.tags.get(PID_TAG) == str(pid):
                    return run.run_id
        time.sleep(0.5)
    raise AssertionError(f"process {pid} started no run within {timeout} s")


def test_a_killed_run_is_marked_failed_and_the_next_run_recovers(warehouse):
    home = Path(os.environ["DAGSTER_HOME"])
    first = subprocess.Popen(
        [AI_ROI, "run", "--select", DATA],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed = _started_run(home, first.pid)
        time.sleep(3)  # into its steps
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED

    again = subprocess.run(
        [AI_ROI, "run", "--select", DATA], env=os.environ.copy(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(killed)
        assert run.status == dg.DagsterRunStatus.FAILURE
    # nothing half-published: every delivered row is staged or quarantined, each delivery decided
    assert warehouse.scalar("select count(*) from raw._loads where status = 'pending'") == 0
    for source in ("order_lines", "ticket_events", "messages"):
        delivered = warehouse.scalar(f"select count(*) from raw.{source}__current")
        kept = warehouse.scalar(f"select count(*) from staged.{source}")
        held = warehouse.scalar("select count(*) from quarantine.rows where source = ?", [source])
        assert kept + held == delivered, source
