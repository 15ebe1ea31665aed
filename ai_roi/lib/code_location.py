"""The code location's whole asset graph, for what must judge the whole graph whatever a run selected.

A run's job holds only the assets it selected (`ai-roi run --select group:router` has the router's
three assets), so a promotion gate, the coverage table and the inventory cannot take the graph
from their own job. `definitions.py` registers the composed definitions here once; this module
never imports them back.
"""

from __future__ import annotations

import dagster as dg

_defs: dg.Definitions | None = None


def register(defs: dg.Definitions) -> dg.Definitions:
    """Make `defs` the code location every guard judges; returns it for composition."""
    global _defs
    _defs = defs
    return defs


def asset_graph():
    """The full asset graph of the registered code location."""
    if _defs is None:
        raise RuntimeError(
            "no code location registered: load ai_roi.definitions (it registers its "
            "definitions) before running an asset that needs the whole graph"
        )
    return _defs.resolve_asset_graph()


def materializable_assets() -> list[str]:
    """Every materializable asset of the code location, as user strings, sorted."""
    graph = asset_graph()
    return sorted(
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
    )
