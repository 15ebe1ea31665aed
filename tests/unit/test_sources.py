"""The source catalogue rejects what would break a run, with errors that name the field."""

from __future__ import annotations

import pytest
import yaml

from ai_roi.sources import SourceConfigError, load_catalog
from tests.conftest import catalog_dict


def _write(tmp_path, catalog: dict):
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return path


def test_product_catalog_loads_with_paths_relative_to_the_file():
    from tests.conftest import ROOT

    catalog = load_catalog(ROOT / "config" / "sources.yaml")
    for source in (catalog.order_lines, catalog.ticket_events, catalog.messages):
        for spec in source.files:
            assert spec.path.is_absolute() and spec.path.exists()


def test_missing_required_mapping_is_named(tmp_path):
    catalog = catalog_dict()
    del catalog["sources"]["order_lines"]["columns"]["invoice_no"]
    with pytest.raises(SourceConfigError, match=r"sources\.order_lines.*invoice_no"):
        load_catalog(_write(tmp_path, catalog))


def test_unknown_pipeline_column_is_rejected(tmp_path):
    catalog = catalog_dict()
    catalog["sources"]["order_lines"]["columns"]["invoice_number"] = "InvoiceNo2"
    with pytest.raises(SourceConfigError, match="invoice_number"):
        load_catalog(_write(tmp_path, catalog))


def test_one_file_column_cannot_feed_two_pipeline_columns(tmp_path):
    catalog = catalog_dict()
    catalog["sources"]["order_lines"]["columns"]["description"] = "StockCode"
    with pytest.raises(SourceConfigError, match="StockCode"):
        load_catalog(_write(tmp_path, catalog))


def test_resolved_state_must_be_a_valid_state(tmp_path):
    catalog = catalog_dict(ticket_events={"resolved_states": ["Done"]})
    with pytest.raises(SourceConfigError, match="Done"):
        load_catalog(_write(tmp_path, catalog))


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_quarantine_share", 1.5), ("format", "xlsx"), ("product_code_pattern", "([unclosed")],
)
def test_invalid_settings_are_rejected_with_their_field(tmp_path, field, value):
    catalog = catalog_dict(order_lines={field: value})
    with pytest.raises(SourceConfigError, match=field):
        load_catalog(_write(tmp_path, catalog))


def test_a_label_is_either_escalated_or_out_of_scope_never_both(tmp_path):
    roles = {"escalate_labels": ["complaint", "other"], "out_of_scope_labels": ["other"]}
    with pytest.raises(SourceConfigError, match=r"\['other'\] are both escalate_labels"):
        load_catalog(_write(tmp_path, catalog_dict(messages=roles)))
    roles["out_of_scope_labels"] = ["unrelated"]
    catalog = load_catalog(_write(tmp_path, catalog_dict(messages=roles)))
    assert catalog.messages.out_of_scope_labels == ["unrelated"]


def test_missing_catalog_and_bad_yaml_are_explained(tmp_path):
    with pytest.raises(SourceConfigError, match="AI_ROI_SOURCES"):
        load_catalog(tmp_path / "nowhere.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed", encoding="utf-8")
    with pytest.raises(SourceConfigError, match="not valid YAML"):
        load_catalog(bad)


def test_the_staging_sql_reads_its_settings_from_the_sources_configuration(tmp_path):
    """The staging SQL's settings are the catalogue entry's fields and the values its class
    derives from them, with the run's clock; a setting a staging query reads that the entry does
    not have stops dbt's rendering, named (dbt/macros/staging/staging.sql require_settings)."""
    from datetime import datetime

    from ai_roi.lib.dbt_sql import DbtRenderError, render_json
    from ai_roi.lib.staging import staging_settings

    catalog = load_catalog(_write(tmp_path, catalog_dict()))
    now = datetime(2011, 12, 10)
    columns = ["_load_id", "_source_file", "_partition", "_row_number", "_row_hash", "_loaded_at"]
    settings = {
        source: staging_settings(
            source=source,
            config=getattr(catalog, source),
            now=now,
            delivered_columns=[*columns, *getattr(catalog, source).columns],
        )
        for source in ("order_lines", "ticket_events", "messages")
    }
    # what config/sources.yaml and the files it names say: the ticket log's missing-value token,
    # Banking77's 77 labels (a property that reads label_set_path), the run's clock, EIRE renamed
    assert settings["ticket_events"]["missing_values"] == ["?"]
    assert len(settings["messages"]["label_set"]) == 77
    assert settings["order_lines"]["latest_valid_at"] == "2011-12-10 00:00:00"
    assert settings["order_lines"]["country_alias_to"] == ["Ireland", "South Africa"]
    assert settings["order_lines"]["personal"] == ["customer_id"]
    rendered = render_json("duckdb", "staging_statements", settings["order_lines"])
    assert "2011-12-10 00:00:00" in rendered["candidates"]
    assert "'Ireland'" in rendered["candidates"]
    without = {k: v for k, v in settings["order_lines"].items() if k != "max_line_amount"}
    with pytest.raises(DbtRenderError, match="reads the setting max_line_amount"):
        render_json("duckdb", "staging_statements", without)
