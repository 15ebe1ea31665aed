"""Drift of the models' inputs between the training window and new data: population stability
index (PSI) of numeric and categorical distributions, unseen vocabulary, and a `Finding` per model
(warnings, shown by the checks in defs/features/checks.py)."""

from __future__ import annotations

import duckdb
import numpy as np

from ai_roi.lib.monitors import Finding
from ai_roi.params import DriftParams


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index of two count vectors over the same bins."""
    e = np.maximum(expected / max(expected.sum(), 1), eps)
    a = np.maximum(actual / max(actual.sum(), 1), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(train: np.ndarray, new: np.ndarray, bins: int) -> float:
    """PSI with quantile bins cut on the training values."""
    edges = np.unique(np.quantile(train, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, train, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1)
    return psi(expected.astype(float), actual.astype(float))


def categorical_psi(train: dict[str, int], new: dict[str, int]) -> float:
    keys = sorted(set(train) | set(new))
    return psi(
        np.array([train.get(k, 0) for k in keys], float),
        np.array([new.get(k, 0) for k in keys], float),
    )


def drift_finding(measures: dict[str, float], limits: dict[str, float], extra: dict) -> Finding:
    """Warn when any measure is above its limit; the table lists every measure."""
    table = [
        {
            "measure": k,
            "value": round(v, 4),
            "warn_above": limits[k],
            "status": "drift" if v > limits[k] else "ok",
        }
        for k, v in measures.items()
    ]
    drifted = [r["measure"] for r in table if r["status"] == "drift"]
    summary = (
        "drift in "
        + ", ".join(f"{r['measure']} {r['value']}" for r in table if r["status"] == "drift")
        if drifted
        else "no measure above its limit"
    )
    return Finding(
        not drifted, summary, {**{k: round(v, 4) for k, v in measures.items()}, **extra}, table
    )


def router_drift(path: str, p: DriftParams) -> Finding:
    """Messages to route (test split) against the training messages: length, intents, words.

    The extract is a file: an in-memory DuckDB reads it, whatever engine the warehouse runs on."""
    with duckdb.connect() as con:
        return _router_drift(con, path, p)


def _router_drift(con: duckdb.DuckDBPyConnection, path: str, p: DriftParams) -> Finding:
    con.read_parquet(path).create_view("messages")
    lengths = {
        split: np.array(
            [
                n
                for (n,) in con.execute(
                    "select length(text) from messages where split = $s", {"s": split}
                ).fetchall()
            ],
            float,
        )
        for split in ("train", "test")
    }
    labels = {
        split: dict(
            con.execute(
                "select label, count(*) from messages where split = $s group by 1",
                {"s": split},
            ).fetchall()
        )
        for split in ("train", "test")
    }
    unseen, words, new_terms = con.execute(
        """
        with words as (
            select split, unnest(regexp_split_to_array(lower(text), '[^a-z0-9]+')) as word
            from messages
        ),
        vocab as (select distinct word from words where split = 'train' and word <> ''),
        new as (select word from words where split = 'test' and word <> '')
        select count(*) filter (where word not in (select word from vocab)),
               count(*),
               array_agg(distinct word) filter (where word not in (select word from vocab))
        from new
        """
    ).fetchone()
    measures = {
        "text_length_psi": numeric_psi(lengths["train"], lengths["test"], p.bins),
        "intent_mix_psi": categorical_psi(labels["train"], labels["test"]),
        "unseen_word_share": unseen / max(words, 1),
    }
    limits = {
        "text_length_psi": p.psi_warn,
        "intent_mix_psi": p.psi_warn,
        "unseen_word_share": p.vocabulary_warn,
    }
    return drift_finding(
        measures,
        limits,
        {
            "training_messages": len(lengths["train"]),
            "new_messages": len(lengths["test"]),
            "unseen_words_sample": ", ".join(sorted(new_terms or [])[:20]),
        },
    )


def demand_drift(path: str, p: DriftParams) -> Finding:
    """The last `recent_weeks` of demand against the weeks before: units, zero weeks, product mix
    (the extract read by an in-memory DuckDB, as `router_drift` reads its)."""
    with duckdb.connect() as con:
        return _demand_drift(con, path, p)


def _demand_drift(con: duckdb.DuckDBPyConnection, path: str, p: DriftParams) -> Finding:
    con.read_parquet(path).create_view("demand")
    rows = con.execute(
        """
        with d as (select *, dense_rank() over (order by week_start desc) as weeks_back
                   from demand)
        select weeks_back <= $recent as recent, stock_code, units from d
        """,
        {"recent": p.recent_weeks},
    ).fetchall()
    train = np.array([u for recent, _, u in rows if not recent], float)
    new = np.array([u for recent, _, u in rows if recent], float)
    if len(train) == 0 or len(new) == 0:
        return Finding(True, "not enough weeks to compare", {"recent_weeks": p.recent_weeks})
    mix_train: dict[str, int] = {}
    mix_new: dict[str, int] = {}
    for recent, code, units in rows:
        target = mix_new if recent else mix_train
        target[code] = target.get(code, 0) + units
    zero_train, zero_new = float(np.mean(train == 0)), float(np.mean(new == 0))
    measures = {
        "weekly_units_psi": numeric_psi(np.log1p(train), np.log1p(new), p.bins),
        "product_mix_psi": categorical_psi(mix_train, mix_new),
        "zero_week_share_change": abs(zero_new - zero_train),
    }
    limits = {
        "weekly_units_psi": p.psi_warn,
        "product_mix_psi": p.psi_warn,
        "zero_week_share_change": p.share_change_warn,
    }
    return drift_finding(
        measures,
        limits,
        {
            "recent_weeks": p.recent_weeks,
            "training_product_weeks": len(train),
            "recent_product_weeks": len(new),
        },
    )
