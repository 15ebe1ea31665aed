"""One pipeline run at a time per warehouse: a second one refuses at once and names the first.

DuckDB lets one process write a database file. Two runs started together used to both fail deep
inside a step with `Could not set lock on file`, one of them in its audit step. Every run takes an
exclusive lock on `<warehouse>.run.lock` and writes who holds it: `ai-roi run` for the whole
invocation (its runs and its audit row), a run the Dagster UI, a sensor or a schedule launched
for the run (the warehouse resource, ai_roi/resources.py). The operating system drops the lock when
the process ends, however it ends (`kill -9` included), so a dead run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another process is running the pipeline on this warehouse (or holds the file open)."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".run.lock")


# the warehouses this process holds the lock of (ai-roi run holds it around its Dagster runs)
_HELD: set[Path] = set()


def held_here(warehouse: Path) -> bool:
    return lock_path(warehouse) in _HELD


def acquire(warehouse: Path, selection: str | None, run_id: str | None = None):
    """Take the warehouse's run lock and say who holds it; WarehouseBusy at once if it is taken.

    Returns the open lock file: closing it (or the process ending, however it ends) releases it.
    """
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = _holder(handle.read())
        handle.close()
        raise WarehouseBusy(
            f"another pipeline run is using the warehouse {warehouse} ({holder}). "
            "Wait for it to finish, or stop it, then run again."
        ) from None
    handle.seek(0)
    handle.truncate()
    info = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "selection": selection or "*",
    }
    if run_id:
        info["run_id"] = run_id
    handle.write(json.dumps(info))
    handle.flush()
    _HELD.add(path)
    return handle


def release(warehouse: Path, handle) -> None:
    _HELD.discard(lock_path(warehouse))
    handle.close()


@contextlib.contextmanager
def exclusive_run(warehouse: Path, selection: str | None) -> Iterator[None]:
    """Hold the warehouse's run lock for the block; WarehouseBusy at once if another run has it."""
    handle = acquire(warehouse, selection)
    try:
        yield
    finally:
        release(warehouse, handle)


def _holder(text: str) -> str:
    try:
        h = json.loads(text)
        run = f"Dagster run {h['run_id']}, " if h.get("run_id") else ""
        return f"{run}pid {h['pid']}, started {h['started_at']}, selection {h['selection']!r}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def busy_message(text: str, warehouse: Path) -> str | None:
    """A user's sentence for DuckDB's lock-conflict error `text` on `warehouse`, or None."""
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    pid = re.search(r"PID (\d+)", text)
    who = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"the warehouse {warehouse} is open for writing by {who} (a pipeline run, the Dagster UI, "
        "or a DuckDB client). Wait for it to finish or close it, then try again."
    )
