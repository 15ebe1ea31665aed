"""SQL that lives in the dbt project, rendered by dbt for the engine a connection runs on.

The staged layer's statements (dbt/macros/staging/) run on the pipeline's own connection, inside
its write-audit-publish transaction, not as dbt models; but they are written once, in dbt, with
`adapter.dispatch` picking each engine's spelling, like the models. `render` asks dbt to compile
one macro call (`dbt compile --inline`) on the adapter of the engine: DuckDB's (the profile's
`dev` target, on an in-memory database, so the warehouse file is never opened) or PostgreSQL's
(the `postgres` target); it renders without connecting to either. dbt runs inside this process
(lib.dbt_in_process), from the project as `dbt parse` saved it where no macro changed since
(about 2.5 s for the first call of a process), else as the process parsed it once (about 4 s);
later calls take about 0.1 s, and a rendering is kept for the same call.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

from ai_roi import settings
from ai_roi.lib import dbt_in_process


class DbtRenderError(RuntimeError):
    """dbt could not render the SQL: what it said."""


def render(
    engine: str, macro: str, settings_: dict | None = None, project_dir: Path | None = None
) -> str:
    """The SQL the dbt macro `macro` renders to on `engine`'s adapter; `settings_`, its one
    argument where it takes one (given to dbt as JSON: dates and times as ISO text); the
    project's own dbt project unless `project_dir`."""
    given = None if settings_ is None else json.dumps(settings_, sort_keys=True, default=str)
    project = str(project_dir or settings.DBT_PROJECT_DIR)
    return _render(engine, macro, given, project, _edited(project))


def render_json(engine: str, macro: str, settings_: dict | None = None) -> dict:
    """The JSON object a macro renders (`tojson(...)`), parsed."""
    return json.loads(render(engine, macro, settings_))


def template(engine: str, name: str) -> str:
    """One of the spellings of `sql_templates` (dbt/macros/cross_engine.sql) for `engine`, with
    `{placeholders}` for str.format."""
    return render_json(engine, "sql_templates")[name]


def _edited(project_dir: str) -> float:
    """When the project's macros or its dbt_project.yml last changed: a rendering is kept only
    as long as they stay as they were (a long-lived process sees an edit)."""
    project = Path(project_dir)
    sources = [project / "dbt_project.yml", *(project / "macros").rglob("*.sql")]
    return max(path.stat().st_mtime for path in sources)


@functools.lru_cache(maxsize=64)
def _render(engine: str, macro: str, given: str | None, project_dir: str, edited: float) -> str:
    # a JSON string is a Jinja string literal
    argument = "" if given is None else f"fromjson({json.dumps(given)})"
    inline = f"{{{{ {macro}({argument}) }}}}"
    said: list[str] = []
    result = dbt_in_process.invoke(
        ["compile", "--inline", inline, *_options(engine, project_dir)]
        + ["--no-introspect", "--no-populate-cache"],  # renders only: no connection to a database
        env=_environment(engine),
        cwd=project_dir,
        callbacks=[lambda e: _keep_errors(e, said)],
        manifest=_manifest(project_dir, engine, edited),
    )
    if not result.success or not result.result or not result.result.results:
        # dbt adds the inline query to the project it is given and takes it out only when the
        # command ends well: a project left holding one refuses every later rendering
        _parse.cache_clear()
        _load_manifest.cache_clear()
        why = "; ".join([str(result.exception or ""), *said]).strip("; ") or "no result"
        raise DbtRenderError(f"dbt could not render {macro} for {engine}: {why}")
    return result.result.results[0].node.compiled_code


def _options(engine: str, project_dir: str) -> list[str]:
    """dbt's options for a rendering or a parse: the engine's target, this process's target
    folder, and no artifacts (writing manifest.json took half of each rendering)."""
    return [
        "--target",
        settings.DEFAULT_DBT_TARGETS[engine],
        "--profiles-dir",
        project_dir,
        "--project-dir",
        project_dir,
        "--target-path",
        _target_path(),
        "--log-path",
        _target_path(),
        "--no-write-json",
        "--quiet",
    ]


def _environment(engine: str) -> dict[str, str]:
    env = dict(os.environ)
    if engine == "duckdb":
        env["AI_ROI_DUCKDB_PATH"] = ":memory:"  # compiles only: the warehouse file stays shut
    return env


def _manifest(project_dir: str, engine: str, edited: float):
    """The project for a rendering: as `dbt parse` saved it (`_parsed`), else as this process
    parsed it once (then about 0.1 s a rendering, where dbt's own partial parse took 0.3 s)."""
    return _parsed(project_dir, engine, edited) or _parse(project_dir, engine, edited)


@functools.lru_cache(maxsize=4)
def _parse(project_dir: str, engine: str, edited: float):  # noqa: ARG001 - kept per edit
    """The project parsed for `engine` by this process; None where dbt cannot parse it (the
    rendering then parses it itself and says why it cannot)."""
    result = dbt_in_process.invoke(
        ["parse", *_options(engine, project_dir)], env=_environment(engine), cwd=project_dir
    )
    return result.result if result.success else None


def _parsed(project_dir: str, adapter: str, edited: float):
    """The project as `dbt parse` left it (its target's manifest.json, which `make setup` writes),
    where no macro or project file changed since and it was parsed for `adapter` (the adapter's
    own macros, e.g. postgres__datediff, are in it only then): loading it takes about 0.2 s
    where parsing takes about 3 s. None otherwise, and dbt parses. `edited`: when the macros
    last changed (`_edited`)."""
    # where dbt writes its target, as dbt reads it (relative to the project)
    saved = Path(project_dir) / (os.environ.get("DBT_TARGET_PATH") or "target") / "manifest.json"
    try:
        written = saved.stat().st_mtime
    except FileNotFoundError:
        return None
    if edited > written:
        return None
    manifest = _load_manifest(str(saved), written)
    return manifest if manifest.metadata.adapter_type == adapter else None


@functools.lru_cache(maxsize=2)
def _load_manifest(path: str, _written: float):
    from dbt.artifacts.schemas.manifest import WritableManifest
    from dbt.contracts.graph.manifest import Manifest

    return Manifest.from_writable_manifest(WritableManifest.read_and_check_versions(path))


def _keep_errors(event, said: list[str]) -> None:
    if event.info.level == "error":
        said.append(event.info.msg)


def _target_path() -> str:
    """dbt's target and log folder for this process's renderings: apart from dbt/target (the
    manifest Dagster reads), kept for the process so dbt parses the project once, and deleted
    when the process ends."""
    return _target_folder().name


@functools.cache
def _target_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="ai_roi_dbt_sql_")
