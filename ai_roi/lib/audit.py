"""The audit trail: one row per pipeline run in `governance.audit_log`, from the Dagster event log.

Everything comes from what the run itself recorded (materialisations and check evaluations in
the Dagster instance), plus the code version (git), the data versions (the fingerprints and file
checksums in `raw._loads`, and the DVC hashes in dvc.lock) and who launched it.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from ai_roi import yaml_text
from ai_roi.lib.freshness import version
from ai_roi.lib.warehouse import parsed_json
from ai_roi.ml import tracking

# Tag on the runs `ai-roi run` launches: it audits them itself, as one invocation.
CLI_TAG = "ai_roi/launcher"
MODEL_ASSETS = {"ml/router_model": "intent_router", "ml/demand_model": "demand_forecaster"}
CHAMPION_ASSETS = {"ml/router_champion": "intent_router", "ml/demand_champion": "demand_forecaster"}


@dataclass
class AuditRecord:
    run_id: str
    dagster_run_ids: list[str]
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    launched_by: str
    launcher: str
    selection: str
    git_commit: str
    data_versions: dict
    checks_passed: int
    checks_warned: int
    checks_failed: int
    rows_quarantined: int
    models_trained: dict
    promotions: dict


def launched_by() -> str:
    return os.environ.get("AI_ROI_LAUNCHED_BY") or getpass.getuser()


def launcher() -> str:
    return "ci" if os.environ.get("CI") else "cli"


def _time(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None) if ts else None


def dvc_hashes(lock: Path) -> dict[str, str]:
    """md5 of every output dvc.lock records: the versions of extracts and models."""
    if not lock.exists():
        return {}
    stages = (yaml_text.load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    return {
        out["path"]: out["md5"]
        for stage in stages.values()
        for out in stage.get("outs", [])
        if "md5" in out
    }


def data_versions(con: duckdb.DuckDBPyConnection, lock: Path) -> dict:
    """{source: {fingerprint, files}} of the deliveries in play, and the DVC outputs' hashes."""
    deliveries: dict[str, list[tuple[str, list]]] = {}
    for source, fingerprint, files in con.execute(
        "select source, fingerprint, files from raw._loads where is_current"
        " order by source, loaded_at"
    ).fetchall():
        deliveries.setdefault(source, []).append((fingerprint, parsed_json(files)))
    sources = {
        source: {
            "fingerprint": version([fingerprint for fingerprint, _ in listed]),
            "files": [
                {"path": f["path"], "sha256": f["sha256"]} for _, files in listed for f in files
            ],
        }
        for source, listed in deliveries.items()
    }
    return {"sources": sources, "dvc": dvc_hashes(lock)}


def collect(
    instance: dg.DagsterInstance,
    run_ids: list[str],
    con: duckdb.DuckDBPyConnection,
    *,
    selection: str,
    lock: Path,
    launched_by_name: str | None = None,
    launched_from: str | None = None,
) -> AuditRecord:
    """The audit row of one invocation made of the Dagster runs `run_ids` (first one names it)."""
    passed = warned = failed = quarantined = 0
    trained, promoted = {}, {}
    statuses, starts, ends = [], [], []
    for run_id in run_ids:
        record = instance.get_run_record_by_id(run_id)
        statuses.append(record.dagster_run.status)
        starts.append(record.start_time)
        ends.append(record.end_time)
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                if evaluation.passed:
                    passed += 1
                elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
                    failed += 1
                else:
                    warned += 1
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.event_specific_data.materialization
                key = materialization.asset_key.to_user_string()
                meta = {k: v.value for k, v in materialization.metadata.items()}
                quarantined += int(meta.get("rows_quarantined") or 0)
                if key in MODEL_ASSETS and "model_version" in meta and not meta.get("reused"):
                    trained[MODEL_ASSETS[key]] = str(meta["model_version"])
                if key in CHAMPION_ASSETS and "champion_version" in meta:
                    promoted[CHAMPION_ASSETS[key]] = str(meta["champion_version"])
    ok = all(s == dg.DagsterRunStatus.SUCCESS for s in statuses)
    return AuditRecord(
        run_id=run_ids[0],
        dagster_run_ids=list(run_ids),
        started_at=_time(min(filter(None, starts), default=None)),
        finished_at=_time(max(filter(None, ends), default=None)),
        status="success" if ok else "failure",
        launched_by=launched_by_name or launched_by(),
        launcher=launched_from or launcher(),
        selection=selection,
        git_commit=tracking.git_commit(),
        data_versions=data_versions(con, lock),
        checks_passed=passed,
        checks_warned=warned,
        checks_failed=failed,
        rows_quarantined=quarantined,
        models_trained=trained,
        promotions=promoted,
    )


def write(con: duckdb.DuckDBPyConnection, record: AuditRecord) -> None:
    row = asdict(record)
    for field in ("data_versions", "models_trained", "promotions"):
        row[field] = json.dumps(row[field], sort_keys=True)
    columns = ", ".join(row)
    placeholders = ", ".join(f"${name}" for name in row)
    con.execute("begin transaction")
    try:  # the invocation's row replaced, on either engine
        con.execute(
            "delete from governance.audit_log where run_id = $run_id", {"run_id": row["run_id"]}
        )
        con.execute(f"insert into governance.audit_log ({columns}) values ({placeholders})", row)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
