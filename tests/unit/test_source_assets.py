"""Declaring a source: its rules module must hold what the factory derives the checks from."""

from __future__ import annotations

import types
from pathlib import Path

import dagster as dg
import pytest

from ai_roi.defs.orders import schemas as orders
from ai_roi.lib.rules import RuleBook
from ai_roi.lib.source_assets import RULES_MODULE, SourceDefinition


def test_a_rules_module_missing_a_part_is_named_when_the_source_is_declared():
    rules = types.ModuleType("ai_roi.defs.shipments.schemas")
    rules.RAW_RULES, rules.raw_schema = orders.RAW_RULES, orders.raw_schema
    with pytest.raises(TypeError, match=r"shipments.schemas must define STAGED_RULES, "):
        SourceDefinition(
            name="shipments",
            domain="erp",
            raw_description="Shipments as delivered; one row per file line per delivery.",
            staged_description="Typed shipments; one row per shipment.",
            rules=rules,
            quarantine_rules=RuleBook(),
        )


def _rules_in(folder: Path, source_yaml: str | None) -> types.ModuleType:
    """A copy of the order lines' rules module, in `folder` with `source_yaml` beside it."""
    rules = types.ModuleType("ai_roi.defs.shipments.schemas")
    for name in RULES_MODULE:
        setattr(rules, name, getattr(orders, name))
    rules.__file__ = str(folder / "schemas.py")
    if source_yaml is not None:
        (folder / "source.yaml").write_text(source_yaml, encoding="utf-8")
    return rules


SHIPMENTS = """
name: shipments
domain: erp
raw_description: Shipments as delivered; one row per file line per delivery.
staged_description: Typed shipments; one row per shipment.
time_column: shipped_at
quarantine:
  copies: {stem: shipment, row: shipment}
  rules:
    - name: shipment_id_missing
      dimension: completeness
      description: shipment number is empty
      column: shipment_id
"""


def test_a_source_is_declared_by_the_yaml_beside_its_rules(tmp_path):
    source = SourceDefinition.load(_rules_in(tmp_path, SHIPMENTS))
    assert (source.name, source.time_column) == ("shipments", "shipped_at")
    assert source.staged_key == dg.AssetKey(["staged", "shipments"])
    assert [r.name for r in source.quarantine_rules] == [
        "shipment_id_missing",
        "duplicate_shipment",
        "shipment_in_earlier_delivery",
        "shipment_in_other_file",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"has no source.yaml beside it"),
        (SHIPMENTS.replace("domain: erp", "domian: erp"), r"domian\n  Extra inputs"),
        (SHIPMENTS.replace("name: shipments\n", ""), r"name\n  Field required"),
        ("name: [", r"does not declare a source"),
        (SHIPMENTS.replace("completeness", "completness"), r"unknown dimension 'completness'"),
        (SHIPMENTS.replace("  rules:", "  rule:"), r"quarantine.rules\n  Field required"),
    ],
)
def test_a_source_file_that_does_not_declare_a_source_is_named(tmp_path, text, message):
    with pytest.raises(TypeError, match=message):
        SourceDefinition.load(_rules_in(tmp_path, text))


def test_each_sources_assets_are_versioned_by_that_sources_own_declaration():
    """A rule edited in one source's rules module marks that source's assets stale, not the
    others': each source's raw and staged assets carry a code version of their own."""
    from ai_roi.definitions import defs

    graph = defs.resolve_asset_graph()
    versions = {
        (layer, name): graph.get(dg.AssetKey([layer, name])).code_version
        for layer in ("raw", "staged")
        for name in ("order_lines", "ticket_events", "messages")
    }
    assert None not in versions.values()
    staged = {versions["staged", name] for name in ("order_lines", "ticket_events", "messages")}
    assert len(staged) == 3, versions


def test_a_quarantine_rule_judged_against_the_runs_clock_is_declared_so():
    """A row held back because its date is after the load may pass a later run with no new data:
    the command line must not skip an unchanged run while such a row is held
    (lib.run_stamp.valid_until), so a rule whose test reads the run's clock says `clock`."""
    import re
    from datetime import datetime

    from ai_roi.defs.sources import SOURCES
    from ai_roi.lib.dbt_sql import render_json
    from ai_roi.lib.staging import staging_settings
    from ai_roi.settings import PROJECT_ROOT
    from ai_roi.sources import load_catalog

    catalog = load_catalog(PROJECT_ROOT / "config" / "sources.yaml")
    clock = datetime(2031, 7, 9, 8, 7, 6)  # a time no setting holds
    found = set()
    for name, source in SOURCES.items():
        config = source.config(catalog)
        columns = ["_load_id", "_source_file", "_partition", "_row_number", *config.columns]
        values = staging_settings(source=name, config=config, now=clock, delivered_columns=columns)
        sql = render_json("duckdb", "staging_statements", values)["candidates"]
        tests = re.findall(r"case\s+when\s((?:(?!\bend\b).)*?)\bthen\s+'(\w+)'", sql, re.S)
        assert tests, name
        on_clock = {rule for test, rule in tests if str(clock) in test}
        declared = {rule.name for rule in source.quarantine_rules if rule.clock}
        assert on_clock <= declared, f"{name}: {sorted(on_clock - declared)} read the clock"
        found |= on_clock
    assert {"invoice_date_out_of_range", "event_time_out_of_range"} <= found
