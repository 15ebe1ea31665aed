"""The sensor asks for a run when a file lands in a landing glob, and only then."""

from __future__ import annotations

import shutil

import dagster as dg
import yaml

from ai_roi import settings
from ai_roi.definitions import defs
from ai_roi.defs.automation.sensors import TRIGGER_TAG, new_deliveries, weekly_refresh
from ai_roi.lib import partitions
from ai_roi.params import AutomationParams, load_params
from ai_roi.resources import SourceCatalogResource
from tests.conftest import FIXTURE_FILES, FIXTURES, catalog_dict


def _evaluate(catalog_path, cursor):
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"catalog": SourceCatalogResource(path=str(catalog_path))},
        definitions=defs,
    )
    result = new_deliveries(context)
    return result, context.cursor


def test_the_sensor_requests_a_run_for_a_new_file_in_a_landing_glob(tmp_path):
    landing = tmp_path / "landing" / "orders"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURES / "order_lines.csv.gz", landing / "orders_2011.csv.gz")
    catalog = tmp_path / "sources.yaml"
    files = {**FIXTURE_FILES, "order_lines": [{"path": str(landing / "*.csv.gz")}]}
    catalog.write_text(yaml.safe_dump(catalog_dict(files)), encoding="utf-8")

    first, cursor = _evaluate(catalog, None)
    assert isinstance(first, dg.SkipReason) and "first look" in first.skip_message
    again, cursor = _evaluate(catalog, cursor)
    assert isinstance(again, dg.SkipReason)  # nothing new: no run

    (landing / "orders_2012.csv.gz").write_bytes(b"InvoiceNo\n1\n")
    request, cursor = _evaluate(catalog, cursor)
    assert isinstance(request, dg.RunRequest)
    assert "orders_2012.csv.gz" in request.tags[TRIGGER_TAG]
    assert "order_lines" in request.tags[TRIGGER_TAG]
    assert_every_month(request)
    after, _ = _evaluate(catalog, cursor)
    assert isinstance(after, dg.SkipReason)  # the file was asked for once


def test_a_broken_catalogue_skips_with_the_reason(tmp_path):
    catalog = tmp_path / "sources.yaml"
    catalog.write_text("sources: {order_lines: {}}", encoding="utf-8")
    result, _ = _evaluate(catalog, "{}")
    assert isinstance(result, dg.SkipReason) and "cannot be read" in result.skip_message


def assert_every_month(request: dg.RunRequest) -> None:
    """The run builds every month of the period marts, from params.yaml's first to its last."""
    months = load_params(settings.params_path()).partitions
    assert request.tags[partitions.RANGE_START_TAG] == months.start_month.isoformat()
    assert request.tags[partitions.RANGE_END_TAG] == months.end_month.isoformat()


def test_the_schedule_requests_a_run_of_every_month():
    schedule = weekly_refresh(AutomationParams(refresh_cron="0 6 * * 1"))
    assert schedule.cron_schedule == "0 6 * * 1"
    context = dg.build_schedule_context(repository_def=defs.get_repository_def())
    request = schedule(context)
    assert TRIGGER_TAG in request.tags
    assert_every_month(request)


def test_partition_months_are_quoted_first_days_in_order(tmp_path):
    import copy
    from datetime import date

    import pytest

    from ai_roi.params import ParamsError
    from tests.conftest import PRODUCT_PARAMS

    def load(**months):
        raw = copy.deepcopy(PRODUCT_PARAMS)
        raw["partitions"].update(months)
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return load_params(path).partitions

    assert load(start_month="2011-01-01").start_month == date(2011, 1, 1)
    with pytest.raises(ParamsError, match=r"partitions\.start_month: .*in quotes.*DVC"):
        load(start_month=date(2011, 1, 1))  # written unquoted, as YAML reads a date
    with pytest.raises(ParamsError, match="not the first day of a month"):
        load(start_month="2011-01-15")
    with pytest.raises(ParamsError, match="before start_month"):
        load(start_month="2011-01-01", end_month="2010-12-01")
