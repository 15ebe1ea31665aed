"""The dbt project as Dagster sees it. Kept apart so `dagster-dbt project prepare-and-package` can load it."""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from dagster_project import settings

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target=os.environ["DBT_TARGET"],
)
# Under `dagster dev` the manifest is rebuilt on load; elsewhere `make setup` runs `dbt parse`.
dbt_project.prepare_if_dev()


def dbt_resource() -> DbtCliResource:
    # dbt from this interpreter's environment, whatever PATH says
    dbt_executable = Path(sys.executable).parent / "dbt"
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(dbt_executable) if dbt_executable.exists() else "dbt",
    )
