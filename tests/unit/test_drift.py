"""Drift of the models' inputs: quiet on similar data, fires on shifted data."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from ai_roi.ml import drift
from ai_roi.params import DriftParams
from tests.conftest import PRODUCT_PARAMS

DRIFT = DriftParams(**PRODUCT_PARAMS["quality"]["drift"])


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        yield connection


def test_psi_is_zero_for_identical_and_large_for_shifted_distributions():
    rng = np.random.default_rng(1)
    train = rng.normal(0, 1, 5000)
    assert drift.numeric_psi(train, rng.normal(0, 1, 5000), 10) < 0.02
    assert drift.numeric_psi(train, rng.normal(1.5, 1, 5000), 10) > 0.5
    assert drift.categorical_psi({"a": 50, "b": 50}, {"a": 50, "b": 50}) == pytest.approx(0)


def _messages(con, path: Path, test_texts: list[tuple[str, str]]) -> str:
    train = [("how do I top up my card", "top_up"), ("my card was declined", "declined")] * 50
    rows = [(t, label, "train") for t, label in train] + [(t, lab, "test") for t, lab in test_texts]
    con.execute("create or replace table m (text varchar, label varchar, split varchar)")
    con.executemany("insert into m values (?, ?, ?)", rows)
    con.execute(f"copy m to '{path}' (format parquet)")
    return str(path)


def test_router_drift_quiet_on_similar_messages_fires_on_new_vocabulary(con, tmp_path):
    similar = [("how do I top up my card", "top_up"), ("my card was declined", "declined")] * 10
    quiet = drift.router_drift(_messages(con, tmp_path / "a.parquet", similar), DRIFT)
    assert quiet.passed, quiet.summary

    shifted = [("wie kann ich meine karte aufladen bitte schnell", "top_up")] * 20
    fired = drift.router_drift(_messages(con, tmp_path / "b.parquet", shifted), DRIFT)
    assert not fired.passed
    assert (
        fired.observed["unseen_word_share"] > 0.5
        and "aufladen" in fired.observed["unseen_words_sample"]
    )


def test_demand_drift_fires_when_recent_demand_jumps(con, tmp_path):
    rng = np.random.default_rng(2)
    weeks = [datetime(2023, 1, 2) + timedelta(weeks=w) for w in range(52)]

    def write(scale_recent: float) -> str:
        rows = []
        for code in [f"P{i}" for i in range(20)]:
            for i, week in enumerate(weeks):
                scale = scale_recent if i >= 52 - DRIFT.recent_weeks else 1
                rows.append((code, week, float(rng.poisson(20) * scale)))
        con.execute("create or replace table d (stock_code varchar, week_start date, units double)")
        con.executemany("insert into d values (?, ?, ?)", rows)
        path = tmp_path / f"d{scale_recent}.parquet"
        con.execute(f"copy d to '{path}' (format parquet)")
        return str(path)

    assert drift.demand_drift(write(1.0), DRIFT).passed
    fired = drift.demand_drift(write(5.0), DRIFT)
    assert not fired.passed and fired.observed["weekly_units_psi"] > DRIFT.psi_warn
