"""The sample configuration CI (and the tests) run the pipeline on: the product's own
config/sources.yaml and params.yaml, pointed at the fixtures cut from the real data
(tests/fixtures/, see scripts/make_fixtures.py), with the promotion bars sized for them.

    python -m scripts.ci_config state/ci     # writes state/ci/sources.yaml and params.yaml
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PRODUCT_CATALOG = yaml.safe_load((ROOT / "config" / "sources.yaml").read_text(encoding="utf-8"))
PRODUCT_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
# The fixtures are small: 12 messages per intent, ~1.5 % of the invoices. Same models, smaller bars.
FIXTURE_PARAMS = {
    "router": {
        "gate": {
            "min_accuracy": 0.3,
            "min_macro_f1": 0.3,
            "min_auto_precision": 0.5,
            "min_automation_rate": 0.05,
        }
    },
    "forecast": {
        "min_active_weeks": 10,
        "top_products": 25,
        "lags": 4,
        "backtest_origins": 4,
        "gate": {"max_wape_ratio_to_naive": 1.5, "max_wape_ratio_to_seasonal_naive": 1.5},
    },
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
    """The product's catalogue with test files; `overrides[source]` replaces fields of a source."""
    catalog = copy.deepcopy(PRODUCT_CATALOG)
    sources = catalog["sources"]
    for name, specs in (files or FIXTURE_FILES).items():
        sources[name]["files"] = specs
    sources["messages"]["label_set_path"] = str(ROOT / "data" / "banking77" / "categories.json")
    for name, fields in overrides.items():
        sources[name].update(fields)
    return catalog


def _merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) else value
    return merged


def params_dict(**changes: dict) -> dict:
    """The product's params.yaml with the fixture-sized bars, then `changes` on top."""
    return _merge(_merge(PRODUCT_PARAMS, FIXTURE_PARAMS), changes)


def main(target: str) -> None:
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(yaml.safe_dump(catalog_dict()), encoding="utf-8")
    (folder / "params.yaml").write_text(yaml.safe_dump(params_dict()), encoding="utf-8")
    print(f"CI sample configuration in {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "state/ci")
