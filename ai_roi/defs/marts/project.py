"""The dbt project as Dagster sees it. Kept apart so `dagster-dbt project prepare-and-package` can load it."""

import os
import shutil
import sys
import tempfile
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer
from packaging import version

from ai_roi import settings
from ai_roi.lib import dbt_in_process

# dbt from this environment: sys.prefix is the venv even where sys.executable is resolved, and
# dagster-dbt's own helpers (prepare_if_dev under `dagster dev`) look dbt up on PATH.
DBT_EXECUTABLE = Path(sys.prefix) / "bin" / "dbt"
if DBT_EXECUTABLE.exists() and str(DBT_EXECUTABLE.parent) not in os.environ.get("PATH", "").split(
    os.pathsep
):
    os.environ["PATH"] = os.pathsep.join([str(DBT_EXECUTABLE.parent), os.environ.get("PATH", "")])


class ManifestPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparation under `dagster dev` (`dbt parse`), its files replaced whole.

    Every process that loads the definitions under `dagster dev` parses the project again: the
    code server at each reload, and each run the daemon launches. dbt writes target/manifest.json
    in place as it serialises it (a tenth of a second for 1 MB), while other processes read it
    (the PII scan's business keys, the assets' manifest, `make run` beside `make dev`): a reader
    found half a manifest. Here dbt parses into a folder of its own beside the target, and each
    file it wrote replaces the target's with a rename, which a reader sees whole or not at all.
    dagster-dbt's lock on the manifest still keeps two parses from running at once.
    """

    def _prepare_manifest(self, project: DbtProject) -> None:
        target = project.project_dir / project.target_path
        target.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=target))
        try:
            saved = target / "partial_parse.msgpack"
            if saved.exists():  # dbt parses only what changed since
                shutil.copy2(saved, scratch / saved.name)
            DbtCliResource(project_dir=project).cli(
                self._prepare_project_cli_args, target_path=scratch
            ).wait()
            self._invalidate_seeds_in_partial_parse(
                DbtProject(
                    project_dir=project.project_dir,
                    profiles_dir=project.profiles_dir,
                    target_path=scratch,
                )
            )
            # the manifest last: a reader that sees the new manifest sees the rest with it
            written = sorted(p for p in scratch.iterdir() if p.is_file())
            for path in sorted(written, key=lambda p: p.name == "manifest.json"):
                os.replace(path, target / path.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# No target here: the profile's default (dbt/profiles.yml) reads DBT_TARGET, else the warehouse's
# engine (AI_ROI_WAREHOUSE), when each invocation starts, so a process that runs the pipeline
# twice follows the settings of each run (settings.dbt_target says the same, and refuses a target
# of the other engine before a run starts).
dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
)
# Under `dagster dev` the manifest is rebuilt on load; elsewhere `make setup` runs `dbt parse`.
ManifestPreparer().prepare_if_dev(dbt_project)


class LocalDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the work this project never uses, running dbt in-process.

    - dagster-dbt asks `dbt --version` before every invocation: a second dbt start (3 to 4 s on
      this 2-core machine) that also looks up the newest release on PyPI. When the executable is
      this environment's own dbt, its version is the installed package's; any other executable
      is still asked.
    - Before every invocation it also loads the dbt project, the profile and dbt's macros into a
      dbt adapter in this process (1.2 s the first time, 0.26 s after), used only to fetch column
      metadata or row counts (`.fetch_column_metadata()`, `.fetch_row_counts()`), which no asset
      here asks for: the asset checks count their rows themselves.
    """

    @property
    def _is_own_dbt(self) -> bool:
        """Whether the executable is this environment's dbt (the one imported here)."""
        return Path(self.dbt_executable) == DBT_EXECUTABLE

    @cached_property
    def _cli_version(self) -> version.Version:
        if self._is_own_dbt:
            from dbt.version import __version__

            return version.parse(__version__)
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None

    def cli(self, args, **options):
        """dagster-dbt's invocation; in this process where it is this environment's dbt (see
        ai_roi/lib/dbt_in_process.py), unless AI_ROI_DBT_IN_PROCESS=0."""
        if self._is_own_dbt and settings.dbt_in_process():
            with dbt_in_process.in_process():
                return super().cli(args, **options)
        return super().cli(args, **options)


def dbt_resource() -> DbtCliResource:
    return LocalDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(DBT_EXECUTABLE) if DBT_EXECUTABLE.exists() else "dbt",
    )
