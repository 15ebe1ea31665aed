"""`make dev` serves the whole asset graph: every asset, its group, owners and checks."""

from __future__ import annotations

import pytest

from dagster_project.definitions import defs
from scripts.check_ui import ui_asset_graph

pytestmark = pytest.mark.slow


def test_dagster_dev_serves_every_asset_and_check(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    served = ui_asset_graph()
    graph = defs.resolve_asset_graph()
    expected = {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}
    assert set(served) == expected
    assert all(node["owners"] > 0 for node in served.values())
    assert sum(len(node["checks"]) for node in served.values()) == len(graph.asset_check_keys)
