"""The code location loads, every asset is governed, and the graph matches its reviewed snapshot.

After an intended change to the graph, refresh the snapshot with
`UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_definitions.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ai_roi.definitions import defs
from ai_roi.lib.rules import DIMENSIONS

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
CLASSIFICATIONS = {"public", "internal", "confidential", "pii"}


def _graph() -> dict:
    checks: dict[str, list[str]] = {}
    for key in defs.resolve_asset_graph().asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    graph = {}
    for spec in defs.resolve_all_asset_specs():
        key = spec.key.to_user_string()
        graph[key] = {
            "group": spec.group_name,
            "owners": sorted(spec.owners),
            "kinds": sorted(spec.kinds),
            "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith("dagster/")},
            "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
            "checks": sorted(checks.get(key, [])),
            "partitions": str(spec.partitions_def) if spec.partitions_def else None,
        }
    return dict(sorted(graph.items()))


def test_graph_matches_snapshot():
    graph = _graph()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(graph, indent=2) + "\n", encoding="utf-8")
    assert graph == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def governance_problems(spec) -> list[str]:
    """What an asset lacks of owner, group, kinds, classification and grain."""
    problems = []
    if not spec.owners:
        problems.append("owner missing")
    if not spec.group_name or spec.group_name == "default":
        problems.append("group missing")
    if not spec.kinds:
        problems.append("kinds missing")
    if spec.tags.get("classification") not in CLASSIFICATIONS:
        problems.append("classification tag missing")
    # the grain: "one row per order line", "one model version per run", ...
    if not re.search(r"\bone( \w+){1,3} per\b", (spec.description or "").lower()):
        problems.append("grain missing from description")
    return problems


@pytest.mark.parametrize(
    "spec",
    # sorted: pytest-xdist's workers must collect the same tests in the same order
    sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()),
    ids=lambda s: s.key.to_user_string(),
)
def test_every_asset_has_owner_group_kind_classification_and_grain(spec):
    assert governance_problems(spec) == []


def test_the_governance_test_catches_a_removed_owner_or_classification():
    spec = next(
        s
        for s in defs.resolve_all_asset_specs()
        if s.key.to_user_string() == "marts/mart_roi_summary"
    )
    assert governance_problems(spec) == []
    assert governance_problems(spec.replace_attributes(owners=[])) == ["owner missing"]
    untagged = spec.replace_attributes(
        tags={k: v for k, v in spec.tags.items() if k != "classification"}
    )
    assert governance_problems(untagged) == ["classification tag missing"]


def test_every_python_stage_has_checks_on_every_dimension_it_covers():
    graph = _graph()
    for key in (
        "raw/order_lines",
        "staged/order_lines",
        "raw/ticket_events",
        "staged/ticket_events",
        "raw/messages",
        "staged/messages",
    ):
        dims = {name.rsplit("_", 1)[1] for name in graph[key]["checks"]}
        assert {"accuracy", "completeness", "consistency", "uniqueness"} <= dims, key


def test_raw_identifiers_only_in_the_raw_layer():
    for spec in defs.resolve_all_asset_specs():
        if spec.tags.get("classification") == "pii":
            assert spec.group_name == "raw", spec.key


def test_every_check_carries_a_quality_dimension():
    graph = defs.resolve_asset_graph()
    for key in graph.asset_check_keys:
        dimension = (graph.get_check_spec(key).metadata or {}).get("dimension")
        assert getattr(dimension, "value", dimension) in DIMENSIONS, key
