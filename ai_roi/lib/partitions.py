"""Monthly partitions of the period marts, and how a run names the months it builds.

The period marts (dbt models tagged `monthly`: fct_order_lines by invoice month,
fct_support_tickets by the month a ticket opened, and the tables built from them) are partitioned
by month from `partitions.start_month` in params.yaml to `end_month` (else the current month). A
run builds a range of months in one dbt invocation (a single-run backfill policy): Dagster tags
the run with the range's first and last key. A backfill names its months and the facts' rows of
those months are deleted and written again (dbt/macros/month_window.sql); a run of every month
(`ai-roi run`, the sensor, the schedule) rewrites the months whose staged rows changed
(lib/month_builds.py).

Staged tables are not partitioned: a delivery is checked for duplicates against every earlier
one, so staging reads all deliveries (lib/staging.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg

from ai_roi.lib.month_builds import next_month
from ai_roi.params import PartitionParams

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The window a partitioned dbt build reads (dbt/macros/month_window.sql), the end exclusive.
WINDOW_FROM_ENV = "AI_ROI_DBT_MONTHS_FROM"
WINDOW_TO_ENV = "AI_ROI_DBT_MONTHS_TO"


def monthly(params: PartitionParams) -> dg.MonthlyPartitionsDefinition:
    """Months from `start_month` to `end_month`, else to the current one (UTC), both included."""
    if params.end_month is not None:
        return dg.MonthlyPartitionsDefinition(
            start_date=params.start_month.isoformat(),
            end_date=next_month(params.end_month).isoformat(),
            timezone="UTC",
        )
    return dg.MonthlyPartitionsDefinition(
        start_date=params.start_month.isoformat(), end_offset=1, timezone="UTC"
    )


def range_tags(partitions_def: dg.PartitionsDefinition) -> dict[str, str]:
    """Run tags that build every partition of `partitions_def`."""
    keys = partitions_def.get_partition_keys()
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def window_tags(
    partitions_def: dg.PartitionsDefinition, span: tuple[str, str]
) -> dict[str, str] | None:
    """Run tags that build exactly the months of `span` ([start, end) ISO dates), or None when
    those months are not all partitions (an empty window, a month before `start_month`)."""
    inside = [k for k in partitions_def.get_partition_keys() if span[0] <= k < span[1]]
    # the partitions are consecutive months: they cover the span when they reach both its ends
    if (
        not inside
        or inside[0] != span[0]
        or next_month(date.fromisoformat(inside[-1])).isoformat() != span[1]
    ):
        return None
    return {RANGE_START_TAG: inside[0], RANGE_END_TAG: inside[-1]}


def run_tags(graph, keys: Iterable[dg.AssetKey]) -> dict[str, str]:
    """Tags of a run of `keys` that builds every partition of the partitioned ones, if any.

    Every run that does not name its months (`ai-roi run`, the sensor, the schedule, DVC's
    stages) builds them all: the period marts are then what a full build makes.
    """
    definitions = {
        graph.get(k).partitions_def for k in keys if graph.get(k).partitions_def is not None
    }
    if not definitions:
        return {}
    if len(definitions) > 1:
        raise ValueError("one run builds the partitions of one partitions definition")
    return range_tags(definitions.pop())


def named_months(context: dg.AssetExecutionContext) -> tuple[str, str] | None:
    """The months this run names, as [start, end) ISO dates; None when it builds every month."""
    if list(context.partition_keys) == context.assets_def.partitions_def.get_partition_keys():
        return None
    span = context.partition_time_window
    return span.start.date().isoformat(), span.end.date().isoformat()
