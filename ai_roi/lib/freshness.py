"""Which deliveries a published figure comes from, and whether the warehouse has moved on since.

A delivery is identified by its fingerprint in raw._loads (sha256 of its files and column mapping);
a source's data version is that of its deliveries together (`version`).
Every figure the product publishes (metrics/*.json, the models' MLflow runs, the ROI report)
records the fingerprints of the deliveries it was computed from, read from what the staged layer
holds (`staged_versions`): that is the data the marts and extracts were built from, which is not
the newest delivery when that one was refused. A figure is stale when the current delivery of one
of its sources (`current_versions`) is not the one it was computed from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from ai_roi.lib.warehouse import has_table

# the key under which an extract's parquet file records the deliveries it was built from
PARQUET_KEY = b"ai_roi.data_versions"


def version(fingerprints: list[str]) -> str:
    """The data version of a source made of these deliveries: the one's fingerprint, or a hash
    of them all (in any order) when the staged layer holds several (append, replace_overlap)."""
    if len(fingerprints) == 1:
        return fingerprints[0]
    return hashlib.sha256("+".join(sorted(fingerprints)).encode()).hexdigest()


def _versions(con, where: str) -> dict[str, str]:
    """The data version of each source's deliveries that `where` selects (on either engine)."""
    if not has_table(con, "raw", "_loads"):
        return {}
    fingerprints: dict[str, list[str]] = {}
    for source, fingerprint in con.execute(
        f"select source, fingerprint from raw._loads where {where} order by 1, 2"
    ).fetchall():
        fingerprints.setdefault(source, []).append(fingerprint)
    return {source: version(fps) for source, fps in fingerprints.items()}


def current_versions(con) -> dict[str, str]:
    """Each source's data as delivered now: its deliveries in play, accepted or not."""
    return _versions(con, "is_current")


def staged_versions(con, sources: list[str] | None = None) -> dict[str, str]:
    """Each source's data as the staged layer holds it: its accepted deliveries.

    Staging marks deliveries accepted in the transaction that publishes them, so this is the data
    the staged tables, the marts and the extracts were built from; a refused delivery is in play
    (current) but not accepted, and the figures read as stale until it is.
    """
    versions = _versions(con, "status = 'accepted'")
    return {s: v for s, v in versions.items() if sources is None or s in sources}


def changed(used: dict[str, str], current: dict[str, str]) -> list[tuple[str, str, str]]:
    """(source, delivery used, delivery now current) for each source of `used` that moved on.

    Only the sources the figures were computed from count: a new message delivery does not make
    the forecast stale.
    """
    return [
        (source, fingerprint, current[source])
        for source, fingerprint in sorted(used.items())
        if source in current and current[source] != fingerprint
    ]


def stale_reasons(what: str, used: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """Why figures computed from deliveries `used` are not those of the warehouse now (if not)."""
    if not used:
        return [f"{what} does not say which data it comes from: rebuild it"]
    return [
        f"{source}: {what} comes from delivery {old[:12]}, the warehouse now holds {new[:12]}"
        for source, old, new in changed(used, current)
    ]


def short(versions: dict[str, str] | None) -> str:
    """`source fingerprint12, ...`: how a page or summary line names its data."""
    if not versions:
        return "unknown"
    return ", ".join(f"{s} {f[:12]}" for s, f in sorted(versions.items()))


def write_parquet_versions(table, versions: dict[str, str]):
    """`table` (a pyarrow Table) with `versions` in its schema metadata."""
    meta = dict(table.schema.metadata or {})
    meta[PARQUET_KEY] = json.dumps(versions, sort_keys=True).encode()
    return table.replace_schema_metadata(meta)


def parquet_versions(path: Path) -> dict[str, str] | None:
    """The deliveries the extract at `path` was built from, or None if it does not say."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(PARQUET_KEY)
    return json.loads(raw) if raw is not None else None
