"""MLflow bookkeeping shared by the AI use cases, and the promotion decision.

Every training run records its parameters, metrics, the model (with signature and input
example), the git commit, the exact data it was trained on (file hashes, the same md5 DVC uses)
and the Dagster run id. Each model is registered as a new version; `champion` is an alias.

A run also records its training key (`training_key`): the extract's sha256, every setting that
shapes the model and the code that trains it. A later run with the same key reuses that version
(`trained_version`) instead of registering an identical one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ai_roi import settings
from ai_roi.lib import code_versions

CHAMPION = "champion"
# the package's name before it was `ai_roi`: a model registered then names its classes by it
FORMER_PACKAGE = "dagster_project"
TRAINING_KEY_TAG = "training_key"


def file_hashes(path: Path) -> dict[str, str]:
    """md5 (as DVC records it) and sha256 of a data file: the data version a model was trained on."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
    return {"data_md5": md5.hexdigest(), "data_sha256": sha.hexdigest()}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=settings.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def use_store(tracking_uri: str, artifact_root: str | None, experiment: str) -> str:
    """Point MLflow at the store and return the experiment id, creating the experiment with its
    artifact location: `artifact_root`/`experiment` for a folder or a URI (s3://…), or, with no
    root, the tracking server's own artifact store."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    if artifact_root is None:
        return mlflow.create_experiment(experiment)
    if "://" in artifact_root:
        return mlflow.create_experiment(
            experiment, artifact_location=f"{artifact_root.rstrip('/')}/{experiment}"
        )
    location = Path(artifact_root) / experiment
    location.mkdir(parents=True, exist_ok=True)
    return mlflow.create_experiment(experiment, artifact_location=location.resolve().as_uri())


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    metrics: dict[str, float]


def champion(name: str) -> Champion | None:
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return Champion(
        str(version.version), version.run_id, client.get_run(version.run_id).data.metrics
    )


def promote(name: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def training_key(data_sha256: str, settings_used: dict, code: list, libraries: list) -> str:
    """What decides a trained model: its extract, its settings, its training code, its libraries.

    `code` are the modules that train it (their source files are hashed), `libraries` the
    modules whose version matters (scikit-learn). Same key, same model: training is skipped.
    """
    digest = hashlib.sha256()
    digest.update(data_sha256.encode())
    digest.update(json.dumps(settings_used, sort_keys=True, default=str).encode())
    for module in sorted(code, key=lambda m: m.__name__):
        digest.update(module.__name__.encode())
        # the source as this process loaded it: an edit during a run is the next run's code
        digest.update(code_versions.file_digest(Path(module.__file__)).encode())
    for library in sorted(libraries, key=lambda m: m.__name__):
        digest.update(f"{library.__name__}=={library.__version__}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    run_id: str
    metrics: dict[str, float]


def trained_version(name: str, key: str) -> TrainedVersion | None:
    """The newest registered version of model `name` trained with training key `key`, if any."""
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
        if version.run_id is None:
            continue
        run = client.get_run(version.run_id)
        if run.data.tags.get(TRAINING_KEY_TAG) == key:
            return TrainedVersion(str(version.version), version.run_id, run.data.metrics)
    return None


def export_champion(name: str, destination: Path) -> Path:
    """Copy the champion's MLflow model folder to `destination` (replacing what was there)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}@{CHAMPION}", dst_path=str(Path(tmp) / "download")
        )
        if destination.exists():
            shutil.rmtree(destination)
        shutil.move(local, destination)
    return destination


def bar_failures(
    metrics: dict[str, float], minimums: dict[str, float], maximums: dict[str, float]
) -> list[str]:
    """The bars `metrics` miss; a bar metric given as NaN was not measured, and misses it.

    A bar whose metric is absent from `metrics` is not judged (a champion's figures hold only
    the metrics it is compared on).
    """
    failures = []
    for name, bar in minimums.items():
        if name in metrics and not metrics[name] >= bar:
            failures.append(f"{name} {metrics[name]:.4f} is below the bar {bar:.4f}")
    for name, bar in maximums.items():
        if name in metrics and not metrics[name] <= bar:
            failures.append(f"{name} {metrics[name]:.4f} is above the bar {bar:.4f}")
    return failures


def gate_failures(
    metrics: dict[str, float],
    minimums: dict[str, float],
    maximums: dict[str, float],
    higher_is_better: dict[str, bool],
    champion_metrics: dict[str, float] | None,
    tolerance: float,
) -> list[str]:
    """Why a candidate may not become champion; empty when it may.

    It must meet every bar and be no worse than the current champion by more than `tolerance`
    on any metric in `higher_is_better`. A champion that misses one of today's bars (a bar
    raised or added since it was promoted) is no standard: it cannot hold back a candidate that
    meets them.
    """
    failures = [
        f"{name} was not measured" for name in {**minimums, **maximums} if name not in metrics
    ]
    failures += bar_failures(metrics, minimums, maximums)
    if champion_metrics and not bar_failures(champion_metrics, minimums, maximums):
        for name, higher in higher_is_better.items():
            if name not in champion_metrics:
                continue
            ours, theirs = metrics[name], champion_metrics[name]
            worse = theirs - ours if higher else ours - theirs
            if worse > tolerance:
                failures.append(
                    f"{name} {ours:.4f} is worse than the champion's {theirs:.4f} by more than {tolerance}"
                )
    return failures


def load_model(uri: str):
    """The scikit-learn model at `uri` (MLflow's skops format), also one registered before the
    package was renamed: its classes are found under the module names they were saved with.

    A registered version never changes, so the last versions loaded are kept (`models:/name@alias`
    is first resolved to its version): a run's training, evaluation, gate and routing read one
    load. Callers only predict with the model; none changes it.
    """
    found = re.fullmatch(r"models:/([^/@]+)@(.+)", uri)
    if found:
        version = MlflowClient().get_model_version_by_alias(found[1], found[2]).version
        uri = f"models:/{found[1]}/{version}"
    if re.fullmatch(r"models:/[^/@]+/\d+", uri):
        return _load_version(mlflow.get_registry_uri(), uri)
    return _load(uri)


@lru_cache(maxsize=2)  # a router is some 80 MB in memory: the last two versions only
def _load_version(registry: str, uri: str):
    return _load(uri)


def _load(uri: str):
    package = __name__.split(".")[0]
    for name, module in list(sys.modules.items()):
        if name == package or name.startswith(package + "."):
            sys.modules.setdefault(FORMER_PACKAGE + name[len(package) :], module)
    return mlflow.sklearn.load_model(uri)
