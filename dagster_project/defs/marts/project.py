"""The dbt project as Dagster sees it. Kept apart so `dagster-dbt project prepare-and-package` can load it."""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from dagster_project import settings

# dbt from this environment: sys.prefix is the venv even where sys.executable is resolved, and
# dagster-dbt's own helpers (prepare_if_dev under `dagster dev`) look dbt up on PATH.
DBT_EXECUTABLE = Path(sys.prefix) / "bin" / "dbt"
if DBT_EXECUTABLE.exists() and str(DBT_EXECUTABLE.parent) not in os.environ.get("PATH", "").split(
    os.pathsep
):
    os.environ["PATH"] = os.pathsep.join([str(DBT_EXECUTABLE.parent), os.environ.get("PATH", "")])

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target=settings.dbt_target(),
)
# Under `dagster dev` the manifest is rebuilt on load; elsewhere `make setup` runs `dbt parse`.
dbt_project.prepare_if_dev()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(DBT_EXECUTABLE) if DBT_EXECUTABLE.exists() else "dbt",
    )
