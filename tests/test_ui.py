"""`make dev` serves the whole asset graph: every asset, its group, owners and checks."""

from __future__ import annotations

import pytest

from ai_roi.definitions import defs
from scripts.check_ui import ui_asset_graph

pytestmark = [pytest.mark.slow, pytest.mark.long]


def test_dagster_dev_serves_every_asset_and_check(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    served = ui_asset_graph()
    graph = defs.resolve_asset_graph()
    expected = {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}
    assert set(served) == expected
    assert all(node["owners"] > 0 for node in served.values())
    assert sum(len(node["checks"]) for node in served.values()) == len(graph.asset_check_keys)


BACKFILL = """mutation($names: [String!], $assets: [AssetKeyInput!]) {
  launchPartitionBackfill(backfillParams: {partitionNames: $names, assetSelection: $assets}) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
  }
}"""
BACKFILL_STATUS = """query($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""


@pytest.mark.starts_built
def test_a_backfill_of_months_launched_in_the_ui_is_one_run_of_those_months(
    warehouse, tmp_path, monkeypatch
):
    """As a data engineer does it: select the monthly assets, pick two months, launch a backfill.

    The daemon of `dagster dev` launches it; the single-run policy makes it one run."""
    import time

    import dagster as dg

    from scripts.check_ui import query, serving

    monthly = [
        s.key for s in defs.resolve_all_asset_specs() if "monthly" in s.tags and s.partitions_def
    ]
    months = ["2011-02-01", "2011-03-01"]
    # the UI's own instance (the fixture's is in memory), as `make dev` keeps it
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "ui_home"))
    with serving() as port:
        launched = query(
            port,
            BACKFILL,
            {"names": months, "assets": [{"path": list(k.path)} for k in monthly]},
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill = launched["backfillId"]
        deadline = time.monotonic() + 600
        status = "REQUESTED"
        while status in ("REQUESTED", "CANCELING", "FAILING") and time.monotonic() < deadline:
            time.sleep(5)
            status = query(port, BACKFILL_STATUS, {"id": backfill})["partitionBackfillOrError"][
                "status"
            ]
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill}))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    materialized = {
        (r.asset_key, r.partition_key)
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=monthly[0]), limit=1000
        ).records
        if r.run_id == runs[0].run_id
    }
    assert {p for _, p in materialized} == set(months)
