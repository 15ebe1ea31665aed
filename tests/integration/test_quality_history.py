"""Every run adds its check results to the history, the mart scores them, the page shows them."""

from __future__ import annotations

from dagster_project.lib.quality import DIMENSIONS
from tests.conftest import run_pipeline

EVERYTHING_BUT_PAGE = 'not key:"reports/quality_page"'
PAGE = 'key:"reports/quality_page"'


def test_history_mart_and_page_over_two_runs(warehouse):
    first = run_pipeline(EVERYTHING_BUT_PAGE)
    assert first.success
    assert run_pipeline(PAGE).success
    assert warehouse.scalar("select count(distinct run_id) from marts.mart_data_quality") == 1

    second = run_pipeline(EVERYTHING_BUT_PAGE)
    assert second.success
    page_run = run_pipeline(PAGE)
    assert page_run.success

    # every check evaluation of the run, Pandera, monitor, dbt test or gate, is in the history
    for result in (first, second):
        evaluated = {
            (e.asset_key.to_user_string(), e.check_name)
            for e in result.get_asset_check_evaluations()
        }
        recorded = set(
            warehouse.query(
                "select asset_key, check_name from quality.check_results where run_id = $r",
                {"r": result.run_id},
            )
        )
        assert recorded == evaluated
    kinds = {k for (k,) in warehouse.query("select distinct check_kind from quality.check_results")}
    assert kinds == {"pandera", "monitor", "dbt", "gate"}

    # the mart: one row per run x asset x dimension, a second run adds its own rows
    mart = warehouse.query(
        "select run_id, count(*), count(distinct (asset_key, dimension)) from marts.mart_data_quality"
        " group by run_id"
    )
    assert {run for run, _, _ in mart} == {first.run_id, second.run_id}
    assert all(rows == distinct for _, rows, distinct in mart)
    dims = {d for (d,) in warehouse.query("select distinct dimension from marts.mart_data_quality")}
    assert dims == set(DIMENSIONS)

    # the completeness score of raw order lines, recomputed from the raw rows themselves
    missing = warehouse.scalar(
        "select count(*) filter (where nullif(trim(customer_id), '') is null"
        " or nullif(trim(description), '') is null), count(*) from raw.order_lines__current"
    )
    total = warehouse.scalar("select count(*) from raw.order_lines__current")
    score = warehouse.scalar(
        "select score from marts.mart_data_quality where run_id = $r"
        " and asset_key = 'raw/order_lines' and dimension = 'completeness'",
        {"r": second.run_id},
    )
    assert missing > 0
    assert score == round(100 * (1 - missing / total), 2)

    # coverage per asset and dimension for the page's run, and the page itself
    coverage = warehouse.query(
        "select asset_key, dimension, checks, columns, columns_covered from quality.check_coverage"
        " where run_id = $r",
        {"r": page_run.run_id},
    )
    staged = {d: (c, cols, cov) for a, d, c, cols, cov in coverage if a == "staged/order_lines"}
    assert set(staged) == set(DIMENSIONS) and all(c > 0 for c, _, _ in staged.values())
    assert all(0 <= cov <= cols for _, cols, cov in staged.values())
    # the staged schema declares column types, so consistency covers columns of the table
    assert staged["consistency"][2] > 0
    page = (warehouse.root / "outputs" / "reports" / "quality.html").read_text(encoding="utf-8")
    for section in ("Scores by dimension", "Check coverage", "Quarantine by rule", "Failed and"):
        assert section in page
    for (rule,) in warehouse.query("select distinct rule from quarantine.rows"):
        assert rule in page
