"""A run that names no months builds every month; one run cannot span two partitionings."""

from __future__ import annotations

import dagster as dg
import pytest

from ai_roi.lib.partitions import RANGE_END_TAG, RANGE_START_TAG, run_tags


def _graph():
    months = dg.MonthlyPartitionsDefinition(start_date="2011-01-01", end_date="2011-04-01")
    days = dg.DailyPartitionsDefinition(start_date="2011-01-01", end_date="2011-01-03")

    @dg.asset(partitions_def=months)
    def by_month(): ...

    @dg.asset(partitions_def=days)
    def by_day(): ...

    @dg.asset
    def whole(): ...

    return dg.Definitions(assets=[by_month, by_day, whole]).resolve_asset_graph()


def test_every_month_of_the_partitioned_assets_and_nothing_for_the_others():
    graph = _graph()
    assert run_tags(graph, [dg.AssetKey("by_month"), dg.AssetKey("whole")]) == {
        RANGE_START_TAG: "2011-01-01",
        RANGE_END_TAG: "2011-03-01",
    }
    assert run_tags(graph, [dg.AssetKey("whole")]) == {}


def test_two_partitionings_in_one_run_are_refused():
    with pytest.raises(ValueError, match="one partitions definition"):
        run_tags(_graph(), [dg.AssetKey("by_month"), dg.AssetKey("by_day")])
