"""`dvc repro` on a clean clone reproduces the committed metrics, offline, and then has nothing to do.

This clones the committed HEAD (uncommitted changes are not part of it) and runs the real pipeline
on the embedded data through DVC, so it takes a minute or two.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_dvc_repro_on_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {
        **os.environ,
        "AI_ROI_STATE_DIR": str(tmp_path / "state"),
        "AI_ROI_OUTPUT_DIR": str(clone),
        "AI_ROI_SOURCES": str(clone / "config" / "sources.yaml"),
        "AI_ROI_PARAMS": str(clone / "params.yaml"),
    }
    for name in (
        "AI_ROI_DUCKDB_PATH",
        "DAGSTER_HOME",
        "MLFLOW_TRACKING_URI",
        "AI_ROI_MLFLOW_ARTIFACTS",
    ):
        env.pop(name, None)
    dvc = str(clone / ".venv" / "bin" / "dvc")

    _run([dvc, "repro"], clone, env)
    # the metrics committed with the code come out again, byte for byte
    changed = _run(["git", "status", "--porcelain", "metrics"], clone, env)
    assert changed.strip() == ""
    assert "up to date" in _run([dvc, "repro"], clone, env)
    assert "up to date" in _run([dvc, "status"], clone, env)

    remote = tmp_path / "remote"
    _run([dvc, "remote", "add", "--local", "-d", "scratch", str(remote)], clone, env)
    _run([dvc, "push"], clone, env)
    assert any(remote.rglob("*"))
