"""Project-wide locations, each overridable by an environment variable.

Dagster, dbt and the command-line helpers all read these variables, so one DuckDB file and one
source catalogue serve every tool. Defaults are written into the environment once, on import, so
that `EnvVar(...)` in resources and `env_var(...)` in dbt's profile see the same value.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"

DEV_PSEUDONYM_KEY = "development-only-key-set-AI_ROI_PSEUDONYM_KEY"

_DEFAULTS = {
    "AI_ROI_STATE_DIR": str(PROJECT_ROOT / "state"),
    "AI_ROI_SOURCES": str(PROJECT_ROOT / "config" / "sources.yaml"),
    "AI_ROI_PARAMS": str(PROJECT_ROOT / "params.yaml"),
    # outputs that DVC versions: data extracts, champion models, metrics
    "AI_ROI_OUTPUT_DIR": str(PROJECT_ROOT),
    "DBT_TARGET": "dev",
}


def _apply_defaults() -> None:
    for name, value in _DEFAULTS.items():
        os.environ.setdefault(name, value)
    state = Path(os.environ["AI_ROI_STATE_DIR"])
    os.environ.setdefault("AI_ROI_DUCKDB_PATH", str(state / "warehouse.duckdb"))
    # what consumers (the ROI report, BI tools) read: the marts only, never the raw layer
    os.environ.setdefault("AI_ROI_EXPORT_PATH", str(state / "exports" / "analytics.duckdb"))
    os.environ.setdefault("DAGSTER_HOME", str(state / "dagster_home"))
    # MLflow: a local sqlite tracking store and artifact folder unless told otherwise
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{state / 'mlflow' / 'mlflow.db'}")
    os.environ.setdefault("AI_ROI_MLFLOW_ARTIFACTS", str(state / "mlflow" / "artifacts"))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if "AI_ROI_PSEUDONYM_KEY" not in os.environ:
        warnings.warn(
            "AI_ROI_PSEUDONYM_KEY is not set: personal identifiers are pseudonymised with a "
            "development key. Set your own secret before loading real customer data.",
            stacklevel=2,
        )
        os.environ["AI_ROI_PSEUDONYM_KEY"] = DEV_PSEUDONYM_KEY


_apply_defaults()


def state_dir() -> Path:
    return Path(os.environ["AI_ROI_STATE_DIR"])


def duckdb_path() -> Path:
    return Path(os.environ["AI_ROI_DUCKDB_PATH"])


def export_path() -> Path:
    return Path(os.environ["AI_ROI_EXPORT_PATH"])


def output_dir() -> Path:
    return Path(os.environ["AI_ROI_OUTPUT_DIR"])


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with a dagster.yaml, so runs and check history persist."""
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home
