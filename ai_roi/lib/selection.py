"""What a run must rebuild when only some sources' deliveries changed.

A source's deliveries reach the assets downstream of its raw asset: its checks, staging, the
marts and models built from it, the ROI and the reports. Assets downstream of no source at all
(the check history's mart, the inventory, the audit log, the quality page) describe the run
itself and are built by every run. Everything else read the same inputs with the same code last
time, so it would come out as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from ai_roi.sources import SourceCatalog


def raw_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


def reached_by(graph, sources: Iterable[str]) -> list[dg.AssetKey]:
    """The executable assets a run must build when only `sources`' delivered files changed."""
    executable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_executable}
    every_source = [raw_key(s) for s in SourceCatalog.model_fields]
    fed_by_a_source = dg.AssetSelection.assets(*every_source).downstream().resolve(graph)
    reached = dg.AssetSelection.assets(*map(raw_key, sources)).downstream().resolve(graph)
    return sorted((reached | (executable - fed_by_a_source)) & executable)


def sources_by_asset(graph) -> dict[str, set[str]]:
    """Each materializable asset and the catalogue's sources whose deliveries reach it (an asset
    of none, such as the run's own records, has an empty set); the same reach as `reached_by`."""
    found: dict[str, set[str]] = {
        k.to_user_string(): set()
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable
    }
    for source in SourceCatalog.model_fields:
        for key in dg.AssetSelection.assets(raw_key(source)).downstream().resolve(graph):
            if key.to_user_string() in found:
                found[key.to_user_string()].add(source)
    return found
