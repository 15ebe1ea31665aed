"""ROI assumptions: validated with errors naming the field; scenarios swing one thing at a time."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from ai_roi.params import ParamsError, load_params
from ai_roi.reports.roi_report import money
from ai_roi.roi import scenarios
from tests.conftest import PRODUCT_PARAMS


def _load(tmp_path, change=None, remove=None):
    raw = copy.deepcopy(PRODUCT_PARAMS)
    if change:
        section, field, value = change
        raw["roi"][section][field] = value
    if remove:
        section, field = remove
        del raw["roi"][section][field]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_params(path)


@pytest.mark.parametrize(
    ("change", "remove", "message"),
    [
        (
            ("ai", "build_cost", -5_000_000),
            None,
            r"roi\.ai\.build_cost: .*greater than or equal to 0",
        ),
        (
            None,
            ("support", "agent_cost_per_hour"),
            r"roi\.support\.agent_cost_per_hour: Field required",
        ),
        # a percentage where a share is expected is a wrong unit: the error says which unit
        (
            ("inventory", "product_margin", 35),
            None,
            r"roi\.inventory\.product_margin: .*share between 0 and 1",
        ),
        (("support", "tickets_per_month", "lots"), None, r"roi\.support\.tickets_per_month"),
        (
            ("support", "tickets_per_month", -10),
            None,
            r"tickets_per_month must be `measured` or a number above 0",
        ),
        # the share of traffic in the router's scope: a share, never none of it
        *[
            (
                ("support", "in_scope_share", share),
                None,
                r"in_scope_share must be `measured` or a share",
            )
            for share in (0, 1.5, -0.2)
        ],
    ],
)
def test_invalid_assumptions_name_the_field(tmp_path, change, remove, message):
    with pytest.raises(ParamsError, match=message):
        _load(tmp_path, change=change, remove=remove)


def test_unknown_currency_and_unknown_range_are_refused(tmp_path):
    raw = copy.deepcopy(PRODUCT_PARAMS)
    raw["roi"]["currency"] = "EUR"
    raw["roi"]["monte_carlo"]["ranges"]["agent_wage"] = [1, 2]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"roi\.currency: Input should be 'KRW' or 'USD'"):
        load_params(path)
    raw["roi"]["currency"] = "USD"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"ranges\.agent_wage: not an assumption"):
        load_params(path)


def test_a_range_is_two_multiples_around_the_value(tmp_path):
    raw = copy.deepcopy(PRODUCT_PARAMS)
    raw["roi"]["monte_carlo"]["ranges"]["agent_cost_per_hour"] = [25000, 36000]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"agent_cost_per_hour: .*multiples of the value"):
        load_params(path)


@pytest.fixture(scope="module")
def product_params():
    from tests.conftest import ROOT

    return load_params(ROOT / "params.yaml")


def test_sensitivity_moves_exactly_one_input_per_scenario(product_params):
    roi = product_params.roi
    frame = scenarios.build(roi, seed=1)
    base = frame[frame["scenario_kind"] == "base"].iloc[0]
    varied_columns = [
        c for c in frame.columns if frame[c].dtype.kind == "f" and c != "tickets_per_month"
    ]
    sens = frame[frame["scenario_kind"] == "sensitivity"]
    assert set(sens["varied"]) == set(scenarios.roi_assumptions(roi)) | set(
        scenarios.MEASURED_FACTORS
    )
    for _, row in sens.iterrows():
        column = scenarios.MEASURED_FACTORS.get(row["varied"], row["varied"])
        changed = [c for c in varied_columns if not np.isclose(row[c], base[c], equal_nan=True)]
        assert changed == [column], row["scenario_id"]
        factor = 1 - roi.sensitivity if row["direction"] == "low" else 1 + roi.sensitivity
        expected = base[column] * factor
        if column in {"product_margin", "holding_cost_rate", "bad_decision_rate"}:
            expected = min(expected, 1.0)
        assert row[column] == pytest.approx(expected)


def test_shares_never_swing_past_one(tmp_path):
    raw = copy.deepcopy(PRODUCT_PARAMS)
    raw["roi"]["inventory"]["product_margin"] = 0.9
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    params = load_params(path)
    frame = scenarios.build(params.roi, seed=1)
    high = frame[frame["scenario_id"] == "sensitivity:product_margin:high"].iloc[0]
    assert high["product_margin"] == 1.0
    draws = frame.loc[frame["scenario_kind"] == "monte_carlo", "product_margin"]
    assert draws.max() == 1.0 and draws.min() < 0.9  # 0.9 x 1.3 is cut at 1


def test_monte_carlo_is_seeded_and_stays_in_its_ranges(product_params):
    roi = product_params.roi
    first, again, other = (scenarios.build(roi, seed=s) for s in (7, 7, 8))
    draws = first[first["scenario_kind"] == "monte_carlo"]
    assert len(draws) == roi.monte_carlo.draws
    base = first[first["scenario_kind"] == "base"].iloc[0]
    for name, (low, high) in roi.monte_carlo.ranges.items():
        assert draws[name].between(low * base[name], high * base[name]).all(), name
        assert draws[name].nunique() > 1, name
    assert first.equals(again)
    assert not first.equals(other)
    # what is not given a range stays at its value in every draw
    fixed = set(scenarios.roi_assumptions(roi)) - set(roi.monte_carlo.ranges)
    for name in fixed:
        assert (draws[name] == base[name]).all(), name


@pytest.mark.parametrize(
    ("projected", "budget", "status"),
    [
        (10, 100, "ok"),
        (79.9, 100, "ok"),
        (80, 100, "warn"),
        (99.9, 100, "warn"),
        (100, 100, "over"),
    ],
)
def test_finops_status_warns_at_80_and_fails_at_100_percent(projected, budget, status):
    assert scenarios.finops_status(projected, budget)[0] == status


def test_money_is_formatted_for_its_currency():
    assert money(30_000_000.4, "KRW", "en") == "₩30,000,000"
    assert money(-1_500, "KRW", "ko") == "-1,500원"
    assert money(1234.5, "USD", "en") == "$1,234.50"
