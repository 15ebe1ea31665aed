"""What `ai-roi run` shows while it runs: a line per step, and the steps' own output in a file.

Every dbt invocation echoes each of dbt's events (some 250 lines for a whole run) and MLflow
announces every registration; on a terminal that buries the summary. Unless the user asks for
the log (`--verbose`, `--log-level`), the run's standard output and error go to one file, the
last invocation's (`$AI_ROI_STATE_DIR/logs/last_run.log`, whose path is printed first), and the
terminal gets one line per step as it starts: the time since the invocation began, the step's
number among its run's steps, and the asset (or the op of several assets) it builds. The Dagster
UI keeps the full log of every run either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import dagster as dg

LOG_NAME = "last_run.log"


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[TextIO]:
    """Send standard output and error to `path` while inside; yield a stream to the terminal.

    Both levels move: file descriptors 1 and 2 (dbt's echo as dagster-dbt writes it, libraries
    writing directly) and Python's `sys.stdout`/`sys.stderr`, which may not be descriptor 1 (a
    test's capture). The terminal is where standard output went before.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    before_out, before_err = sys.stdout, sys.stderr
    try:
        on_descriptor = before_out.fileno() == 1
    except (AttributeError, OSError, ValueError):
        on_descriptor = False
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = (
        open(saved_out, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        if on_descriptor
        else before_out
    )
    try:
        with path.open("w", buffering=1, encoding="utf-8") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            sys.stdout = sys.stderr = log
            try:
                yield terminal
            finally:
                log.flush()
                sys.stdout, sys.stderr = before_out, before_err
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
    finally:
        if terminal is not before_out:
            terminal.close()
        os.close(saved_out)
        os.close(saved_err)


def step_label(step_key: str) -> str:
    """The asset a step builds, as Dagster names it (`staged__order_lines` -> staged/order_lines);
    an op of several assets or a check keeps its own name."""
    return step_key.replace("__", "/")


class Progress:
    """Prints a line per step of the runs it watches, to `terminal`."""

    def __init__(self, terminal: TextIO):
        self.terminal = terminal
        self.started = time.monotonic()

    def _print(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        self.terminal.write(f"{elapsed // 60:>3}:{elapsed % 60:02d}  {text}\n")
        self.terminal.flush()

    def watch(self, instance: dg.DagsterInstance, run_id: str, what: str) -> None:
        """Follow run `run_id` (before it starts): its start, each step, a step that stops."""
        seen = {"steps": 0, "total": "?"}

        def on_event(entry) -> None:
            event = entry.dagster_event
            if event is None:
                return
            try:
                if event.event_type == dg.DagsterEventType.RUN_START:
                    run = instance.get_run_by_id(run_id)
                    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
                    seen["total"] = len(plan.steps)
                    self._print(f"{what}: {seen['total']} steps (Dagster run {run_id[:8]})")
                elif event.event_type == dg.DagsterEventType.STEP_START:
                    seen["steps"] += 1
                    width = len(str(seen["total"]))
                    number = f"{seen['steps']:>{width}}/{seen['total']}"
                    self._print(f"  [{number}] {step_label(event.step_key)}")
                elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
                    self._print(f"  stopped: {step_label(event.step_key)} (the summary says why)")
            except Exception as exc:  # a progress line must never stop a run
                self._print(f"  (progress unavailable: {exc})")

        instance.add_event_listener(run_id, on_event)
