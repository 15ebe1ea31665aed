"""Monthly partitions of the period marts: a run of some months rewrites those months only.

The order lines are cut by month from the real fixture (tests/fixtures, from UCI Online Retail)
and land one file per month. A backfill of a range of months is one run tagged with the range's
first and last month, as the Dagster UI launches it under a single-run backfill policy.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from ai_roi.cli import failure_reasons
from ai_roi.lib import partitions
from ai_roi.lib.ml_assets import FULL_REFRESH_TAG
from tests.conftest import dagster_instance, run_pipeline
from tests.integration.test_deliveries import DATA, KEY, MARTS, content, cut, orders, succeeds

pytestmark = pytest.mark.long

FACT = dg.AssetKey(["marts", "fct_order_lines"])


@pytest.fixture
def wh(warehouse, monkeypatch):
    monkeypatch.setenv("AI_ROI_PSEUDONYM_KEY", KEY)
    return warehouse


def by_month(wh) -> dict[str, str]:
    """Each invoice month's lines of the fact table: count and an order-independent hash."""
    return dict(
        wh.query(
            "select strftime(invoiced_at, '%Y-%m'), count(*) || ':' || sum(hash(f))"
            " from marts.fct_order_lines f group by all"
        )
    )


def test_a_backfill_of_a_month_range_rewrites_those_months_only(wh, monkeypatch):
    landing = wh.root / "landing" / "orders"
    for month in ("2010-12", "2011-01", "2011-02"):
        cut(landing / f"orders_{month}.csv.gz", [month])
    orders(wh, [{"path": str(landing / "*.csv.gz")}])
    succeeds()
    first = by_month(wh)
    assert sorted(first) == ["2010-12", "2011-01", "2011-02"]

    # A month outside the range is taken away: a backfill that rebuilt the table would undo this.
    with duckdb.connect(str(wh.db_path)) as con:
        con.execute(
            "delete from marts.fct_order_lines where strftime(invoiced_at, '%Y-%m') = '2010-12'"
        )

    # A new month lands and is staged; then the months 2011-02 to 2011-03 are backfilled.
    cut(landing / "orders_2011-03.csv.gz", ["2011-03"])
    succeeds("group:raw or group:staged")
    assert "2011-03" not in by_month(wh)  # staged, not yet in the mart
    backfill = run_pipeline(
        "tag:monthly",  # the period marts and what they aggregate into, as the UI backfills them
        tags={partitions.RANGE_START_TAG: "2011-02-01", partitions.RANGE_END_TAG: "2011-03-01"},
    )
    assert backfill.success, failure_reasons(backfill)
    built = {
        e.partition for e in backfill.get_asset_materialization_events() if e.asset_key == FACT
    }
    assert built == {"2011-02-01", "2011-03-01"}
    after = by_month(wh)
    assert "2010-12" not in after  # outside the range: not touched
    assert after["2011-01"] == first["2011-01"]
    assert after["2011-02"] == first["2011-02"]  # rewritten from the same staged lines
    assert "rewriting months 2011-02-01 to 2011-04-01" in step_log(backfill)
    assert after["2011-03"] != "0"

    # A run of every month rewrites the months whose rows changed: the one taken away is built
    # again, whatever window is left in the environment.
    monkeypatch.setenv(partitions.WINDOW_FROM_ENV, "2011-03-01")
    monkeypatch.setenv(partitions.WINDOW_TO_ENV, "2011-04-01")
    succeeds(DATA)
    full = by_month(wh)
    assert full["2010-12"] == first["2010-12"]  # built again from its staged rows
    assert full["2011-03"] == after["2011-03"]
    assert {k: v for k, v in full.items() if k != "2011-03"} == first
    materialized = dagster_instance().get_materialized_partitions(FACT)
    assert {"2010-12-01", "2011-03-01", "2017-02-01"} <= materialized


def step_log(result) -> str:
    """What the period marts' step said it rewrote (lib/month_builds.py decides, dbt reads it)."""
    return "\n".join(
        r.user_message
        for r in dagster_instance().all_logs(result.run_id)
        if r.step_key == "monthly_marts" and r.user_message
    )


def test_a_run_of_every_month_rewrites_only_the_months_whose_staged_rows_changed(wh):
    landing = wh.root / "landing" / "orders"
    for month in ("2010-12", "2011-01", "2011-02"):
        cut(landing / f"orders_{month}.csv.gz", [month])
    orders(wh, [{"path": str(landing / "*.csv.gz")}])
    assert "rebuilding every month" in step_log(succeeds())  # nothing built before

    cut(landing / "orders_2011-03.csv.gz", ["2011-03"])
    log = step_log(succeeds())
    assert "rewriting months 2011-03-01 to 2011-04-01" in log
    assert "1 month changed" in log
    narrowed = {t: content(wh, f"marts.{t}") for t in MARTS}
    assert "2011-03" in by_month(wh)

    # what a build from scratch makes of the same staged rows
    rebuilt = run_pipeline(DATA, tags={FULL_REFRESH_TAG: "true"})
    assert rebuilt.success, failure_reasons(rebuilt)
    assert "rebuilding every month: --full-refresh" in step_log(rebuilt)
    assert {t: content(wh, f"marts.{t}") for t in MARTS} == narrowed

    # nothing new: no month is rewritten, the tables they feed are built again from the facts
    assert "no month's staged rows changed" in step_log(succeeds())
    assert {t: content(wh, f"marts.{t}") for t in MARTS} == narrowed


def test_a_run_of_one_period_mart_leaves_the_others_to_be_built(wh):
    """A run that builds one monthly fact records that fact's months only.

    Materialising the support tickets alone (as a UI user picks one asset) must not record the
    order lines' newly staged month as built: the next run of every month writes it.
    """
    landing = wh.root / "landing" / "orders"
    for month in ("2010-12", "2011-01"):
        cut(landing / f"orders_{month}.csv.gz", [month])
    orders(wh, [{"path": str(landing / "*.csv.gz")}])
    succeeds()

    cut(landing / "orders_2011-02.csv.gz", ["2011-02"])
    succeeds("group:raw or group:staged")
    tickets = run_pipeline("key:marts/fct_support_tickets")
    assert tickets.success, failure_reasons(tickets)
    assert {e.asset_key for e in tickets.get_asset_materialization_events()} == {
        dg.AssetKey(["marts", "fct_support_tickets"])
    }
    assert "2011-02" not in by_month(wh)

    log = step_log(succeeds())
    assert "rewriting months 2011-02-01 to 2011-03-01" in log
    assert "2011-02" in by_month(wh)
