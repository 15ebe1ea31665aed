"""Whether a whole run now would change anything, judged without starting Dagster.

After a whole run (`ai-roi run`, no selection) succeeds, `record` writes `last_run.json` in the
state folder: a digest of everything the run read (each delivered file by content, the source
catalogue, params.yaml, the package's code and SQL, the dbt project, the lockfile, the settings
that say where it writes), the signature of everything it wrote (the warehouse and export files,
the extracts, models, metrics and reports, a local MLflow store), what its checks said, and until
when their verdicts hold with no new data (`valid_until`: a freshness monitor judged against the
clock turns to a warning once the newest event is older than its cadence; a row quarantined as
dated in the future may be valid later).

`reasons_to_run` compares that record with the machine now. No reason means a run would read the
same inputs with the same code into the same outputs: `ai-roi run` says so and stops. Anything
else (a new file, a changed parameter or line of code, a table or report written by another run,
the Dagster UI included, or a verdict that expired) runs the pipeline, and its assets decide what
to recompute (a model whose extract, settings and code are unchanged is reused, lib/ml_assets.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from ai_roi import settings
from ai_roi.lib.dbt_sql import template
from ai_roi.lib.warehouse import engine_of, sha256_file
from ai_roi.sources import SourceCatalog, SourceConfigError, delivered_files, load_catalog

# the dbt macros it renders (lib.dbt_sql), its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/cross_engine.sql",)

STAMP_FILE = "last_run.json"
STAMP_VERSION = 1
# What the pipeline's results depend on besides the data, the catalogue and params.yaml.
CODE = [
    ("ai_roi", ("*.py", "*.sql", "*.yml", "*.yaml", "*.j2", "*.html", "*.json")),
    ("dbt/models", ("*",)),
    ("dbt/macros", ("*",)),
    ("dbt/tests", ("*",)),
    ("dbt/seeds", ("*",)),
    ("dbt", ("dbt_project.yml", "profiles.yml", "packages.yml")),
    (".", ("uv.lock", "pyproject.toml")),
]
# The product's own variables and dbt's, recorded by hash only. MLflow's and Dagster's places
# are recorded as resolved (`_settings`): MLflow sets its MLFLOW_* variables in the process.
ENVIRONMENT_PREFIXES = ("AI_ROI_", "DBT_")
OUTPUT_FOLDERS = ("extracts", "models", "metrics", "reports")


def stamp_path() -> Path:
    return settings.state_dir() / STAMP_FILE


def file_signatures(catalog: SourceCatalog) -> dict[str, dict[str, list[int]]]:
    """{source: {path: [bytes, modified ns]}} of every file the catalogue delivers now."""
    out: dict[str, dict[str, list[int]]] = {}
    for source in SourceCatalog.model_fields:
        files = {}
        for _spec, path in delivered_files(getattr(catalog, source)):
            if path.exists():
                files[str(path)] = _signature(path)
        out[source] = files
    return out


def _signature(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _digest(paths: Iterable[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_digest(root: Path | None = None) -> str:
    """sha256 of the package's code and SQL, the dbt project and the lockfile."""
    root = root or settings.PROJECT_ROOT
    files: set[Path] = set()
    for folder, patterns in CODE:
        base = root / folder
        recursive = folder != "." and folder != "dbt"
        for pattern in patterns:
            found = base.rglob(pattern) if recursive else base.glob(pattern)
            files.update(p for p in found if p.is_file() and "__pycache__" not in p.parts)
    return _digest(files, root)


def _settings() -> dict[str, str]:
    values = {
        "duckdb": str(settings.duckdb_path()),
        "export": str(settings.export_path()),
        "outputs": str(settings.output_dir()),
        "mlflow": settings.mlflow_tracking_uri(),
        "mlflow_artifacts": settings.mlflow_artifacts(),
        "dagster_home": str(settings.dagster_home()),
    }
    for name, value in sorted(os.environ.items()):
        if name.startswith(ENVIRONMENT_PREFIXES):
            # a secret is recorded by its hash only
            values[name] = hashlib.sha256(value.encode()).hexdigest()
    key = settings.key_file()
    if key.exists():
        values["pseudonym_key_file"] = sha256_file(key)
    return values


def inputs(known: dict | None = None) -> dict:
    """What a whole run would read now, and the delivered files' signatures as hashed.

    `known` ({path: [signature, sha256]}) spares re-hashing the files untouched since the last
    record. Taken when a run starts: a file that lands during the run is new to the next one.
    """
    catalog_path, params_path = settings.sources_path(), settings.params_path()
    catalog = load_catalog(catalog_path)
    signatures = file_signatures(catalog)
    known = known or {}
    deliveries = {
        source: {
            path: known[path][1]
            if known.get(path, [None])[0] == signature
            else sha256_file(Path(path))
            for path, signature in files.items()
        }
        for source, files in signatures.items()
    }
    return {
        "deliveries": deliveries,
        "catalogue": sha256_file(catalog_path),
        "params": sha256_file(params_path),
        "code": code_digest(),
        "settings": _settings(),
        "signatures": {p: sig for files in signatures.values() for p, sig in files.items()},
    }


def outputs() -> dict[str, list[int]]:
    """{path: [bytes, modified ns]} of everything a whole run writes."""
    paths = [settings.duckdb_path(), settings.export_path()]
    for folder in OUTPUT_FOLDERS:
        base = settings.output_dir() / folder
        if base.is_dir():
            paths.extend(p for p in base.rglob("*") if p.is_file())
    uri = settings.mlflow_tracking_uri()
    if uri.startswith("sqlite:///"):
        paths.append(Path(uri.removeprefix("sqlite:///")))
    return {str(p): _signature(p) for p in sorted(paths) if p.exists()}


def _known_files(stamp: dict) -> dict[str, list]:
    signatures = stamp["inputs"]["signatures"]
    return {
        path: [signatures.get(path), sha]
        for files in stamp["inputs"]["deliveries"].values()
        for path, sha in files.items()
    }


def record(
    read: dict,
    run_ids: list[str],
    check_rows: list[tuple[str, str, str, str]],
    strict_clean: bool,
    valid_until: datetime | None,
) -> Path:
    """Write the record of a whole run that succeeded; `read` is `inputs()` taken at its start."""
    stamp = {
        "version": STAMP_VERSION,
        "finished_at": _now().isoformat(timespec="seconds"),
        "run_ids": run_ids,
        "inputs": read,
        "outputs": outputs(),
        "checks": [list(row) for row in check_rows],
        "strict_clean": strict_clean,
        "valid_until": valid_until.isoformat(timespec="seconds") if valid_until else None,
    }
    path = stamp_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def valid_until(con, clock_rules: set[str], expiries: Iterable[str]) -> datetime | None:
    """Until when a run's verdicts hold with no new data: the earliest expiry its checks reported
    (`valid_until` in their metadata), or now when the quarantine holds a row under a rule judged
    against the clock (it may pass later). None: they hold until the data, code or settings change.
    """
    times = [datetime.fromisoformat(e) for e in expiries]
    if clock_rules:
        overlap = template(engine_of(con), "lists_overlap")  # each engine's spelling, from dbt
        held = con.execute(
            "select count(*) from quarantine.rows where "
            + overlap.format(first="all_rules", second="cast($rules as varchar[])"),
            {"rules": sorted(clock_rules)},
        ).fetchone()[0]
        if held:
            times.append(_now())
    return min(times) if times else None


def forget() -> None:
    """Drop the record: the next run runs (a run that failed or only ran a selection)."""
    stamp_path().unlink(missing_ok=True)


def load() -> dict | None:
    path = stamp_path()
    if not path.exists():
        return None
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if stamp.get("version") == STAMP_VERSION else None


def reasons_to_run(
    stamp: dict | None, strict: bool = False
) -> tuple[list[str], dict | None, set[str]]:
    """(why a whole run now would differ from the recorded one, the inputs read now, the sources
    whose delivered files changed when nothing else did).

    An empty list: nothing changed. The inputs are None when they could not be read (the run
    will say why). The sources are empty unless their files are the only change since the
    recorded run (no setting, code or parameter, no output written by another run, no verdict
    expired): such a run must rebuild what their deliveries reach (lib.selection), and
    everything else would come out as the recorded run left it.
    """
    if stamp is None:
        return ["no record of an earlier whole run that succeeded"], inputs_or_none(None), set()
    now = inputs_or_none(_known_files(stamp))
    if now is None:
        return ["the source catalogue or params cannot be read"], None, set()
    by_source, others = differences(stamp, now, strict)
    reasons = [r for of_source in by_source.values() for r in of_source] + others
    return reasons, now, set() if others else set(by_source)


def differences(stamp: dict, now: dict, strict: bool) -> tuple[dict[str, list[str]], list[str]]:
    """({source: what changed in its delivered files}, what else changed) since the record."""
    by_source, others = changes(stamp["inputs"], now)
    written = outputs()
    moved = sorted(
        Path(p).name
        for p in set(written) | set(stamp["outputs"])
        if written.get(p) != stamp["outputs"].get(p)
    )
    if moved:
        others.append(
            f"{len(moved)} outputs were written or removed since (e.g. {', '.join(moved[:3])})"
        )
    if stamp.get("valid_until") and _now() >= datetime.fromisoformat(stamp["valid_until"]):
        others.append(f"the checks' verdicts held until {stamp['valid_until']} UTC")
    if strict and not stamp.get("strict_clean"):
        others.append("--strict: the recorded run had checks failing with severity error")
    return by_source, others


def changes(before: dict, now: dict) -> tuple[dict[str, list[str]], list[str]]:
    """What differs between two `inputs()`: ({source: files new, gone or changed}, the rest)."""
    by_source: dict[str, list[str]] = {}
    for source in sorted(set(now["deliveries"]) | set(before["deliveries"])):
        files_now = now["deliveries"].get(source, {})
        files_before = before["deliveries"].get(source, {})
        for path in sorted(set(files_now) | set(files_before)):
            if path not in files_before:
                reason = f"{source}: new file {Path(path).name}"
            elif path not in files_now:
                reason = f"{source}: file {Path(path).name} is gone"
            elif files_now[path] != files_before[path]:
                reason = f"{source}: file {Path(path).name} changed"
            else:
                continue
            by_source.setdefault(source, []).append(reason)
    others = []
    for part, what in (
        ("catalogue", "the source catalogue"),
        ("params", "params.yaml"),
        ("code", "the code, the SQL, the dbt project or the lockfile"),
    ):
        if now[part] != before[part]:
            others.append(f"{what} changed")
    was, is_ = before["settings"], now["settings"]
    moved = sorted(k for k in set(was) | set(is_) if was.get(k) != is_.get(k))
    if moved:
        others.append(f"the settings changed: {', '.join(moved)}")
    return by_source, others


def inputs_or_none(known: dict | None = None) -> dict | None:
    try:
        return inputs(known)
    except (OSError, SourceConfigError):
        return None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
