"""Declaring a source: its rules module must hold what the factory derives the checks from."""

from __future__ import annotations

import types

import pytest

from ai_roi.defs.orders import schemas as orders
from ai_roi.lib.source_assets import SourceDefinition


def test_a_rules_module_missing_a_part_is_named_when_the_source_is_declared():
    rules = types.ModuleType("ai_roi.defs.shipments.schemas")
    rules.RAW_RULES, rules.raw_schema = orders.RAW_RULES, orders.raw_schema
    with pytest.raises(TypeError, match=r"shipments.schemas must define QUARANTINE_RULES, "):
        SourceDefinition(
            name="shipments",
            domain="erp",
            raw_description="Shipments as delivered; one row per file line per delivery.",
            staged_description="Typed shipments; one row per shipment.",
            rules=rules,
            staging_params=lambda _cfg, _now: {},
        )
