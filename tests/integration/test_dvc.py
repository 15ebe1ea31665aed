"""`dvc repro` on a clean checkout runs every stage offline, and then has nothing to do.

The checkout is a fresh git repository holding the files git tracks here, as they are in the working
tree (so it tests the code that is being run), with no generated state. Its catalogue and params
point at the fixtures, so the stages run the real pipeline in about a minute. That the committed
metrics are the ones the embedded data gives is `make ci`'s part: it runs the whole pipeline on the
embedded data and compares its metrics with metrics/ byte for byte (scripts/metrics_match.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts import metrics_match
from tests.conftest import ROOT, SMALL_SAMPLE_BARS, catalog_dict, params_dict

pytestmark = pytest.mark.long


def _run(args: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def _fresh_checkout(target: Path) -> None:
    """The tracked files, with the catalogue and params of the fixtures, committed."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "config" / "sources.yaml").write_text(yaml.safe_dump(catalog_dict()), "utf-8")
    (target / "params.yaml").write_text(yaml.safe_dump(params_dict(SMALL_SAMPLE_BARS)), "utf-8")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run(git + args, cwd=target, check=True)


def test_dvc_repro_on_a_clean_checkout(tmp_path):
    clone = tmp_path / "clone"
    _fresh_checkout(clone)
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
    # every stage wrote its metrics: the fixtures' figures, not the embedded data's committed ones
    changed = _run(["git", "status", "--porcelain", "metrics"], clone, env).splitlines()
    assert sorted(line.split()[-1] for line in changed) == metrics_match.tracked()
    assert "up to date" in _run([dvc, "repro"], clone, env)
    assert "up to date" in _run([dvc, "status"], clone, env)

    # a change to any module a stage imports makes that stage stale
    for stage, module in (
        ("warehouse", "ai_roi/settings.py"),
        ("router", "ai_roi/params.py"),
        ("forecaster", "ai_roi/params.py"),
        ("roi", "ai_roi/reports/quality_page.py"),
    ):
        path = clone / module
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        status = _run([dvc, "status", stage], clone, env)
        path.write_bytes(original)
        assert f"{stage}:" in status and module in status, status
    assert "up to date" in _run([dvc, "status"], clone, env)

    remote = tmp_path / "remote"
    _run([dvc, "remote", "add", "--local", "-d", "scratch", str(remote)], clone, env)
    _run([dvc, "push"], clone, env)
    assert any(remote.rglob("*"))
