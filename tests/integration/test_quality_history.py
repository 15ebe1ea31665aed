"""Every run adds its check results to the history, the mart scores them, the page shows them."""

from __future__ import annotations

import pytest

from ai_roi.lib.rules import DIMENSIONS
from ai_roi.reports import layout
from tests.conftest import run_pipeline

EVERYTHING_BUT_PAGE = 'not key:"reports/quality_page"'
PAGE = 'key:"reports/quality_page"'


def _dbt_target_folder():
    """Where dagster-dbt puts each invocation's target folder (DBT_TARGET_PATH, else dbt/target)."""
    import os
    from pathlib import Path

    from tests.conftest import ROOT

    return Path(os.environ.get("DBT_TARGET_PATH") or ROOT / "dbt" / "target")


@pytest.mark.starts_built
def test_history_mart_and_page_over_two_runs(warehouse, template):
    """The first run is the fixtures' whole build (what a first `ai-roi run` builds, page
    included); a second run adds its own rows, and the page is built after it."""
    warehouse.write_params(retention={"dbt_target_runs": 1})
    first = template.result
    assert first.success
    assert warehouse.scalar("select count(distinct run_id) from marts.mart_data_quality") == 1

    second = run_pipeline(EVERYTHING_BUT_PAGE)
    assert second.success
    page_run = run_pipeline(PAGE)
    assert page_run.success
    # each dbt build wrote a target folder; retention keeps the newest one of each dbt asset
    for op in ("dbt_models", "roi_models"):
        folders = [p.name for p in _dbt_target_folder().glob(f"{op}-*")]
        assert folders == [f"{op}-{second.run_id[:7]}-" + folders[0].rsplit("-", 1)[1]], folders

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

    # one definition of a score: the page's card per dimension is the run's row-weighted score,
    # recomputed here in SQL from the mart; the mart's own scores match lib.rules's formula
    from ai_roi.lib.rules import quality_score

    for rows_failed, rows_checked, score in warehouse.query(
        "select rows_failed, rows_checked, score from marts.mart_data_quality"
    ):
        assert quality_score(rows_failed, rows_checked) == (None if score is None else float(score))
    expected = dict(
        warehouse.query(
            "select dimension, round(100 * (1 - sum(least(coalesce(rows_failed, 0), rows_checked))"
            " / sum(rows_checked)), 2) from marts.mart_data_quality where run_id = $r"
            " and rows_checked > 0 group by 1",
            {"r": second.run_id},
        )
    )
    import re

    cards = dict(re.findall(r'<div class="card">(\w+)<b>([0-9.]+)</b>', page))
    assert cards and cards == {d: f"{v:.2f}" for d, v in expected.items()}


def test_runs_from_the_ui_get_their_pages_rebuilt_after_all_their_checks(warehouse):
    import dagster as dg

    from ai_roi.definitions import defs
    from ai_roi.defs.quality.sensors import QUALITY_PAGE, REPORT_KEYS, reports_after_runs
    from tests.conftest import FIXTURE_FILES, dagster_instance

    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(["raw", "order_lines"])]

    instance = dagster_instance()
    ui_run = job.execute_in_process(instance=instance, asset_selection=keys)
    cli_run = job.execute_in_process(
        instance=instance, asset_selection=keys, tags={"ai_roi/launcher": "cli"}
    )
    # a UI run that fails (a refused delivery): only the quality page is rebuilt after it
    warehouse.write_catalog(
        files={**FIXTURE_FILES, "order_lines": [{"path": str(warehouse.root / "missing.csv")}]}
    )
    failed_run = job.execute_in_process(
        instance=instance, asset_selection=keys, raise_on_error=False
    )
    assert not failed_run.success
    context = dg.build_sensor_context(instance=instance)
    requests = reports_after_runs(context)
    assert [r.run_key for r in requests] == [
        f"reports-for-{ui_run.run_id}",
        f"reports-for-{failed_run.run_id}",
    ]
    assert requests[0].asset_selection is None  # the whole reports job
    assert requests[1].asset_selection == [QUALITY_PAGE]
    assert cli_run.run_id not in str(requests)
    # the request runs the sensor's job: the three report assets, nothing else
    job_def = defs.resolve_job_def("reports")
    assert set(job_def.asset_layer.executable_asset_keys) == set(REPORT_KEYS)


@pytest.mark.starts_built
def test_a_killed_runs_partial_checks_draw_no_dip(warehouse):
    """A run that never finished (killed, still marked started) is left out of scores and trends."""
    import re

    import dagster as dg
    import duckdb

    from ai_roi.lib.history import CheckRecord, record

    assert run_pipeline(PAGE).success  # after the build's run, as `ai-roi run` does
    page_path = warehouse.root / "outputs" / "reports" / "quality.html"
    cards_before = re.findall(r'<div class="card">(\w+)<b>([0-9.]+)</b>', page_path.read_text())
    assert cards_before

    killed = "0" * 8 + "-dead-beef-0000-" + "0" * 12
    from tests.conftest import dagster_instance

    dagster_instance().add_run(
        dg.DagsterRun(job_name="__ASSET_JOB", run_id=killed, status=dg.DagsterRunStatus.STARTED)
    )
    with duckdb.connect(str(warehouse.db_path)) as con:
        partial = CheckRecord(
            asset_key="raw/order_lines",
            check_name="raw_order_lines_completeness",
            dimension="completeness",
            check_kind="pandera",
            passed=False,
            severity="WARN",
            rows_checked=100,
            rows_failed=90,
        )
        record(con, killed, [partial])
    assert run_pipeline(PAGE).success
    page = page_path.read_text()
    assert killed not in page
    assert re.findall(r'<div class="card">(\w+)<b>([0-9.]+)</b>', page) == cards_before


@pytest.mark.starts_built
def test_a_run_of_one_group_leaves_every_other_asset_on_the_page(warehouse):
    """The page shows each asset's latest complete evaluation, whatever the last run selected.

    A data engineer re-runs the raw layer alone from the UI (its sensor then rebuilds the page):
    the staged tables, the marts and the models were not checked again and did not change, so
    their scores, warnings and the cards stay as the whole run left them.
    """
    import re

    assert run_pipeline(PAGE).success  # after the build's run, as `ai-roi run` does
    page_path = warehouse.root / "outputs" / "reports" / "quality.html"
    whole = page_path.read_text(encoding="utf-8")
    cards = re.findall(r'<div class="card">(\w+)<b>([0-9.]+)</b>', whole)
    assert cards

    raw_only = run_pipeline("group:raw")
    assert raw_only.success
    assert {e.asset_key.path[0] for e in raw_only.get_asset_check_evaluations()} == {"raw"}
    page_run = run_pipeline(PAGE)
    assert page_run.success
    page = page_path.read_text(encoding="utf-8")
    assert re.findall(r'<div class="card">(\w+)<b>([0-9.]+)</b>', page) == cards
    latest = page_run.get_asset_materialization_events()[0].materialization.metadata
    scores = latest["latest_scores"].value
    for asset in (
        "raw/order_lines",
        "staged/order_lines",
        "marts/fct_order_lines",
        "ml/demand_model",
    ):
        assert asset in scores, asset
    # a warning of a staged asset the raw-only run did not check is still listed
    staged_warnings = {
        name
        for (name,) in warehouse.query(
            "select distinct check_name from quality.check_results"
            " where not passed and asset_key like 'staged/%'"
        )
    }
    assert staged_warnings and all(name in page for name in staged_warnings)


@pytest.mark.starts_built
def test_the_page_opens_on_one_screen_per_source_in_the_owners_language(warehouse, monkeypatch):
    """Each source leads with its status per dimension, the score of the rows as delivered (the
    mart's), and its problems in plain words: the rule that held back most rows comes first."""
    import html
    import re

    reports = warehouse.root / "outputs" / "reports"
    pages = {}
    for language in ("en", "ko"):
        monkeypatch.setenv("AI_ROI_REPORT_LANG", language)
        assert run_pipeline(PAGE).success
        name = "quality.html" if language == "en" else f"quality.{language}.html"
        pages[language] = (reports / name).read_text(encoding="utf-8")

    def section(page: str, source: str) -> str:
        return page.split(f'id="source-{source}"')[1].split("</section>")[0]

    for language, page in pages.items():
        assert f'<html lang="{language}">' in page
        for source in ("order_lines", "ticket_events", "messages"):
            screen = section(page, source)
            # the delivered score of each dimension, as the mart holds it for the raw asset
            for dimension, score in warehouse.query(
                "select dimension, score from marts.mart_data_quality where asset_key = $a"
                " and run_id = (select max_by(run_id, evaluated_at) from marts.mart_data_quality"
                " where asset_key = $a)",
                {"a": f"raw/{source}"},
            ):
                if score is not None:
                    assert f"{score:,.2f} %" in screen, (language, source, dimension)
        # the rule that held back most order lines leads the orders' problems, in the page's
        # language: the rule's own words in English, its catalogued words in Korean
        rule, reason, rows = warehouse.query(
            "select rule, any_value(reason), count(*) from quarantine.rows"
            " where source = 'order_lines' group by rule order by 3 desc, rule limit 1"
        )[0]
        first = re.search(
            r'<ol class="problems">\s*<li>(.*?)</li>', section(page, "order_lines"), re.S
        )
        text = html.unescape(re.sub(r"<[^>]+>", "", first.group(1)))
        words = reason if language == "en" else layout.reasons(language)[rule]
        assert f"{rows:,}" in text and words in text, (language, text)
        assert language == "en" or reason not in text, (language, text)
    assert "What matters most" in pages["en"] and "가장 중요한 문제" in pages["ko"]
    assert "What matters most" not in pages["ko"]
