"""`ai-roi run` after a new month of orders: it rebuilds what the delivery reaches, with the verdicts
and marts of a whole run. Its own file, so the test suite runs it beside test_cli.py."""

from __future__ import annotations

import re

import pytest

from ai_roi import cli

pytestmark = pytest.mark.long


def test_a_new_month_of_orders_rebuilds_what_it_reaches_with_the_verdicts_of_a_whole_run(
    warehouse, monkeypatch, capsys
):
    """Only the order lines get a new file: the run builds what they reach, not the tickets' or
    the router's chain, and its summary holds every check; a whole run on the same data then
    gives the same verdicts and the same marts."""
    import dagster as dg

    from ai_roi.lib import run_stamp
    from tests.integration.test_deliveries import KEY, cut, orders

    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.root / "dagster_home"))
    monkeypatch.setenv("AI_ROI_PSEUDONYM_KEY", KEY)
    landing = warehouse.root / "landing" / "orders"
    for month in ["2010-12"] + [f"2011-{m:02d}" for m in range(1, 11)]:
        cut(landing / f"orders_{month}.csv.gz", [month])
    orders(warehouse, [{"path": str(landing / "*.csv.gz")}])
    assert cli.main(["run"]) == 0
    whole = re.search(r"Checks: (\d+) run", capsys.readouterr().out).group(1)

    cut(landing / "orders_2011-11.csv.gz", ["2011-11"])
    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out
    assert "Running: order_lines: new file orders_2011-11.csv.gz" in out
    assert "Only order_lines delivered new data" in out
    assert re.search(r"Checks: (\d+) run", out).group(1) == whole
    assert re.search(r"\((\d+) ran now; (\d+) on assets the new deliveries do not reach", out)
    stamp = run_stamp.load()
    with dg.DagsterInstance.get() as instance:
        built = {
            record.asset_key.to_user_string()
            for run_id in stamp["run_ids"]
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
            for record in [record.event_log_entry.dagster_event]
        }
        # the months Dagster records as rewritten, and the steps (a dbt invocation each)
        months = {
            event.partition
            for run_id in stamp["run_ids"]
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
            for event in [record.event_log_entry.dagster_event]
            if event.asset_key == dg.AssetKey(["marts", "fct_order_lines"])
        }
        steps = [
            record.event_log_entry.step_key
            for run_id in stamp["run_ids"]
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
        ]
    assert months == {"2011-11-01"}
    dbt_steps = {"dbt_models", "monthly_marts", "roi_models"}
    assert [s for s in steps if s in dbt_steps] == [
        "dbt_models",
        "monthly_marts",
        "roi_models",
    ]
    assert {
        "raw/order_lines",
        "staged/order_lines",
        "marts/fct_order_lines",
        "ml/demand_model",
    } <= built
    assert {"reports/quality_page", "reports/roi_report", "marts/mart_roi_summary"} <= built
    assert not built & {
        "raw/ticket_events",
        "staged/ticket_events",
        "marts/fct_support_tickets",
        "raw/messages",
        "ml/router_model",
        "ml/routed_messages",
    }
    assert "2011-11" in {
        m
        for (m,) in warehouse.query(
            "select distinct strftime(invoiced_at, '%Y-%m') from marts.fct_order_lines"
        )
    }
    selective = {
        "checks": sorted((a, c, s) for a, c, s, _ in stamp["checks"]),
        "marts": _marts(warehouse),
        "roi": _roi(warehouse),
    }

    # nothing changed since: the record holds
    assert cli.main(["run"]) == 0
    assert "Nothing changed since the run" in capsys.readouterr().out

    # every asset again, the models retrained: the same verdicts and the same marts
    assert cli.main(["run", "--full-refresh"]) == 0
    capsys.readouterr()
    full = run_stamp.load()
    assert sorted((a, c, s) for a, c, s, _ in full["checks"]) == selective["checks"]
    assert _marts(warehouse) == selective["marts"]
    # DuckDB sums in parallel: a float may differ in its last bits between two builds
    assert _roi(warehouse) == pytest.approx(selective["roi"], rel=1e-12)


def _marts(warehouse) -> dict[str, str]:
    from tests.integration.test_deliveries import content

    return {t: content(warehouse, f"marts.{t}") for t in MARTS_COMPARED}


def _roi(warehouse) -> list:
    """The ROI summary's figures, whatever model version computed them (a --full-refresh
    registers new versions of the same models); texts and nulls left out."""
    row = warehouse.query(
        "select * exclude (router_model_version, currency) from marts.mart_roi_summary"
    )[0]
    return [float(v) for v in row if v is not None]


MARTS_COMPARED = (
    "fct_order_lines",
    "fct_support_tickets",
    "mart_demand_weekly",
    "mart_support_kpis_weekly",
)
