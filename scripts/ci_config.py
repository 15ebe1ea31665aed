"""The sample configuration the tests run the pipeline on: the product's own
config/sources.yaml and params.yaml, pointed at the fixtures cut from the real data
(tests/fixtures/, see scripts/make_fixtures.py). CI's pipeline run (`make ci`) uses the
product's configuration as it is, on the embedded data, so the real promotion bars are held.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PRODUCT_CATALOG = yaml.safe_load((ROOT / "config" / "sources.yaml").read_text(encoding="utf-8"))
PRODUCT_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
# The fixtures are small (12 messages per intent, ~1.5 % of the invoices): the forecaster's
# history settings are sized for them. The promotion bars are not lowered here; tests that need
# a promotion on the fixtures lower them themselves and say why (tests/conftest.py).
FIXTURE_PARAMS = {
    "forecast": {"min_active_weeks": 10, "top_products": 25, "lags": 4, "backtest_origins": 4},
}
FIXTURE_FILES = {
    "order_lines": [{"path": str(FIXTURES / "order_lines.csv.gz")}],
    "ticket_events": [{"path": str(FIXTURES / "ticket_events.csv.gz")}],
    "messages": [
        {"path": str(FIXTURES / "messages_train.csv.gz"), "partition": "train"},
        {"path": str(FIXTURES / "messages_test.csv.gz"), "partition": "test"},
    ],
}


def catalog_dict(files: dict | None = None, **overrides: dict) -> dict:
    """The product's catalogue with test files; `overrides[source]` replaces fields of a source.

    Most tests deliver a variant of a fixture (a bad file, a renamed column) in place of the one
    before, so every source is a `snapshot` here unless a test says otherwise: the tests of
    appended deliveries (tests/integration/test_deliveries.py) set `delivery` themselves.
    """
    catalog = copy.deepcopy(PRODUCT_CATALOG)
    sources = catalog["sources"]
    for name, specs in (files or FIXTURE_FILES).items():
        sources[name]["files"] = specs
        sources[name]["delivery"] = "snapshot"
    sources["messages"]["label_set_path"] = str(ROOT / "data" / "banking77" / "categories.json")
    for name, fields in overrides.items():
        sources[name].update(fields)
    return catalog


def _merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) else value
    return merged


def params_dict(*layers: dict, **changes: dict) -> dict:
    """The product's params.yaml sized for the fixtures, then `layers` and `changes` on top."""
    merged = _merge(PRODUCT_PARAMS, FIXTURE_PARAMS)
    for layer in (*layers, changes):
        merged = _merge(merged, layer)
    return merged
