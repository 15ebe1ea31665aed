"""Project-wide locations and secrets, each overridable by an environment variable.

Every value is resolved when it is asked for, from the environment as it is then: nothing is
frozen at import, so a process (or a test) that points `AI_ROI_STATE_DIR` elsewhere moves every
derived path with it. Resources call these functions when they open something; dbt's profile
derives its DuckDB path from the same variables (`dbt/profiles.yml`).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"

# Folders holding what a user's runs produce; tests must never read or write them.
USER_STATE_FOLDERS = ("state", "reports", "metrics", "models", "extracts")

PSEUDONYM_KEY_ENV = "AI_ROI_PSEUDONYM_KEY"


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message says which one and how to fix it."""


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def state_dir() -> Path:
    return Path(_env("AI_ROI_STATE_DIR") or PROJECT_ROOT / "state")


def duckdb_path() -> Path:
    return Path(_env("AI_ROI_DUCKDB_PATH") or state_dir() / "warehouse.duckdb")


# DuckDB's own default is 80% of RAM: it assumes it has the machine to itself. In the pipeline it
# shares the process with the checks' polars frames and the models, and the machine with the
# Dagster UI and whoever reads the marts; dbt/profiles.yml has the same default.
DUCKDB_MEMORY_LIMIT = "25%"


def duckdb_memory_limit() -> str:
    """DuckDB's memory limit for the pipeline's connections and dbt (e.g. `4GB`, `50%`).

    Past it DuckDB spills to disk instead of growing (slower, bounded); default 25% of RAM.
    """
    return _env("AI_ROI_DUCKDB_MEMORY_LIMIT") or DUCKDB_MEMORY_LIMIT


def duckdb_config() -> dict[str, str]:
    """The configuration every connection of the product to the warehouse opens with (the
    pipeline's resource, the CLI's summary and the bookkeeping around a run): its memory limit."""
    return {"memory_limit": duckdb_memory_limit()}


def export_path() -> Path:
    """What consumers (the ROI report, BI tools) read: the marts only, never the raw layer."""
    return Path(_env("AI_ROI_EXPORT_PATH") or state_dir() / "exports" / "analytics.duckdb")


MARTS_SERVERS = ("postgres",)


def marts_server() -> str | None:
    """AI_ROI_MARTS_SERVER=postgres: `exports/marts` publishes the marts to the `marts` schema of
    a PostgreSQL server too, for BI tools that read a server. The connection comes from libpq's
    own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), as for dbt's postgres target;
    unset, the marts go to the export file only."""
    server = _env("AI_ROI_MARTS_SERVER")
    if server is not None and server not in MARTS_SERVERS:
        raise ConfigurationError(
            f"AI_ROI_MARTS_SERVER={server!r}: the marts can be published to {MARTS_SERVERS}; "
            "leave it unset to write the export file only."
        )
    return server


def pg_reader_role() -> str | None:
    """AI_ROI_PG_READER_ROLE: the PostgreSQL role of read-only consumers (a BI tool), granted
    the marts schema only, by dbt's postgres target and by the published marts alike."""
    return _env("AI_ROI_PG_READER_ROLE")


def sources_path() -> Path:
    return Path(_env("AI_ROI_SOURCES") or PROJECT_ROOT / "config" / "sources.yaml")


def params_path() -> Path:
    return Path(_env("AI_ROI_PARAMS") or PROJECT_ROOT / "params.yaml")


def output_dir() -> Path:
    """Outputs that DVC versions: data extracts, champion models, metrics."""
    return Path(_env("AI_ROI_OUTPUT_DIR") or PROJECT_ROOT)


def dagster_home() -> Path:
    return Path(_env("DAGSTER_HOME") or state_dir() / "dagster_home")


def mlflow_tracking_uri() -> str:
    """A local sqlite tracking store unless MLFLOW_TRACKING_URI names another."""
    return _env("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow' / 'mlflow.db'}"


def mlflow_artifacts() -> str | None:
    """Where new experiments keep their artifacts: AI_ROI_MLFLOW_ARTIFACTS (a folder, or a URI
    such as s3://bucket/prefix); with a tracking server (http(s)://) and no such variable, the
    server's own artifact store (`mlflow server --artifacts-destination`); else a local folder."""
    named = _env("AI_ROI_MLFLOW_ARTIFACTS")
    if named:
        return named
    if mlflow_tracking_uri().startswith(("http://", "https://")):
        return None
    return str(state_dir() / "mlflow" / "artifacts")


WAREHOUSE_ENGINES = ("duckdb", "postgres")


def warehouse_engine(named: str | None = None) -> str:
    """Where the pipeline keeps its warehouse: `named` (a resource's own setting), else
    AI_ROI_WAREHOUSE: `duckdb` (the default, the file at AI_ROI_DUCKDB_PATH) or `postgres` (the
    database libpq's PG* variables name: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE;
    README, "Beyond one machine")."""
    engine = (named or _env("AI_ROI_WAREHOUSE") or "duckdb").strip().lower()
    if engine not in WAREHOUSE_ENGINES:
        raise ConfigurationError(
            f"AI_ROI_WAREHOUSE={engine!r}: the warehouse runs on {' or '.join(WAREHOUSE_ENGINES)}"
        )
    return engine


# the profile's default target for each warehouse engine (dbt/profiles.yml)
DEFAULT_DBT_TARGETS = {"duckdb": "dev", "postgres": "postgres"}


def dbt_target() -> str:
    """DBT_TARGET (default: the profile's target for the warehouse's engine), refused with the
    reason when its adapter is not the warehouse's engine: dbt builds the marts from the tables
    the pipeline writes, so both must be the same database."""
    from ai_roi import yaml_text

    engine = warehouse_engine()
    target = _env("DBT_TARGET") or DEFAULT_DBT_TARGETS[engine]
    profile = yaml_text.load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    outputs = next(iter(profile.values()))["outputs"]
    if target not in outputs:
        raise ValueError(
            f"DBT_TARGET={target!r} is not a target of dbt/profiles.yml: use one of "
            f"{sorted(outputs)}"
        )
    adapter = outputs[target]["type"]
    if adapter != engine:
        usable = sorted(t for t, o in outputs.items() if o["type"] == engine)
        raise ValueError(
            f"DBT_TARGET={target!r} is a {adapter} target, and the pipeline's warehouse is "
            f"{engine} (AI_ROI_WAREHOUSE={engine}): dbt must build the marts in the database the "
            f"pipeline writes. Use one of {usable}, or set AI_ROI_WAREHOUSE={adapter} "
            "(README, 'Beyond one machine')."
        )
    return target


def dbt_in_process() -> bool:
    """AI_ROI_DBT_IN_PROCESS (default 1): the pipeline's dbt steps run dbt inside their own
    process (lib/dbt_in_process.py), 0 starts a dbt process per step as dagster-dbt does."""
    value = (_env("AI_ROI_DBT_IN_PROCESS") or "1").strip().lower()
    if value not in ("0", "1", "true", "false"):
        raise ConfigurationError(
            f"AI_ROI_DBT_IN_PROCESS={value!r}: use 1 (dbt runs inside the step's process) or 0 "
            "(a dbt process per step)"
        )
    return value in ("1", "true")


def ml_threads() -> int:
    """AI_ROI_ML_THREADS (default: every core): how many worker processes the models' training
    uses at once: the router's SVM fits, the batches of message embeddings.

    The pieces are independent and each gives what it would alone, so the model and every
    figure are the same with any number (tested); more finish sooner and each holds its own
    copy of what it works on.
    """
    value = _env("AI_ROI_ML_THREADS") or str(os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(
            f"AI_ROI_ML_THREADS={value!r}: the number of model fits to run at once, 1 or more"
        )
    return int(value)


def key_file() -> Path:
    return Path(_env("AI_ROI_PSEUDONYM_KEY_FILE") or state_dir() / "secrets" / "pseudonym.key")


def pseudonym_key() -> str:
    """The secret that keys pseudonyms: AI_ROI_PSEUDONYM_KEY, else this installation's own key.

    A key set to an empty string is an error, not a default. Without the variable, a random key
    is generated once per installation into `key_file()` (owner-only permissions), so no two
    installations share a key that anyone could use to hash the identifier space back.
    """
    if PSEUDONYM_KEY_ENV in os.environ:
        key = os.environ[PSEUDONYM_KEY_ENV]
        if len(key.strip()) < 16:
            raise ConfigurationError(
                f"{PSEUDONYM_KEY_ENV} is set but {'empty' if not key.strip() else 'too short'}: "
                "use a secret of at least 16 characters, or unset it to use this installation's "
                f"generated key ({key_file()})"
            )
        return key
    path = key_file()
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigurationError(f"the pseudonym key file {path} is empty: delete it or fill it")
    return key


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def ensure_state_dir() -> Path:
    """The state folder, owner-only: it holds raw personal data and the pseudonym key."""
    return private_dir(state_dir())


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with a dagster.yaml, so runs and check history persist.

    AI_ROI_DAGSTER_YAML names an instance configuration to use (config/dagster.postgres.yaml:
    storage in PostgreSQL, runs queued by the daemon); it is copied in on every call, so the
    configured one is the one in use. Without it, a dagster.yaml of the user's own is kept, else
    the product's own is written (`local_instance_yaml`: Dagster's local sqlite storage, its
    event log through lib/event_log.py), and written again when the home was moved or copied
    from another place, or was written by an earlier version (telemetry off, nothing else). The
    variable is set for this process too: DagsterInstance.get() reads it.
    """
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    chosen = _env("AI_ROI_DAGSTER_YAML")
    if chosen:
        source = Path(chosen)
        if not source.is_file():
            raise FileNotFoundError(f"AI_ROI_DAGSTER_YAML names {source}, which is not a file")
        text = source.read_text(encoding="utf-8")
        if not config.exists() or config.read_text(encoding="utf-8") != text:
            config.write_text(text, encoding="utf-8")
    else:
        text = config.read_text(encoding="utf-8") if config.exists() else None
        wanted = local_instance_yaml(home)
        ours = text is None or text.startswith(LOCAL_INSTANCE_HEADER) or text == _EARLIER_LOCAL
        if ours and text != wanted:
            config.write_text(wanted, encoding="utf-8")
    return home


# The first line of the dagster.yaml the product writes: what tells it from a user's own
LOCAL_INSTANCE_HEADER = "# written by ai-roi (settings.ensure_dagster_home); "
# What earlier versions wrote
_EARLIER_LOCAL = "telemetry:\n  enabled: false\n"


def local_instance_yaml(home: Path) -> str:
    """The dagster.yaml of a local instance at `home`: Dagster's sqlite storage in its default
    place, the event log with its connections kept open (lib/event_log.py), telemetry off."""
    runs = json.dumps(str(home.resolve() / "history" / "runs"))  # a YAML string, quoted
    return (
        f"{LOCAL_INSTANCE_HEADER}written again while this line is here: delete the line"
        " to keep changes of your own\n"
        "telemetry:\n  enabled: false\n"
        "event_log_storage:\n"
        "  module: ai_roi.lib.event_log\n"
        "  class: PooledSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {runs}\n"
    )
