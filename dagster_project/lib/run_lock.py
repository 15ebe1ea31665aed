"""One `ai-roi run` at a time per warehouse: a second one refuses at once and names the first.

DuckDB lets one process write a database file. Two runs started together used to both fail deep
inside a step with `Could not set lock on file`, one of them in its audit step. The CLI now takes an
exclusive lock on `<warehouse>.run.lock` for the whole invocation (its runs and its audit row) and
writes who holds it. The operating system drops the lock when the process ends, however it ends
(`kill -9` included), so a dead run never blocks the next one.
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


@contextlib.contextmanager
def exclusive_run(warehouse: Path, selection: str | None) -> Iterator[None]:
    """Hold the warehouse's run lock for the block; WarehouseBusy at once if another run has it."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise WarehouseBusy(
                f"another ai-roi run is using the warehouse {warehouse} ({_holder(handle.read())}). "
                "Wait for it to finish, or stop it, then run again."
            ) from None
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "selection": selection or "*",
        }
        handle.write(json.dumps(holder))
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _holder(text: str) -> str:
    try:
        h = json.loads(text)
        return f"pid {h['pid']}, started {h['started_at']}, selection {h['selection']!r}"
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
