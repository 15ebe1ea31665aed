"""Keyed pseudonyms: stable for one key, different under another, never the raw value."""

from __future__ import annotations

import re

import duckdb

from ai_roi.lib.pii import PSEUDONYM_HEX_CHARS, PSEUDONYM_PATTERN
from ai_roi.lib.staging import register_pseudonymiser


def _pseudonyms(key: str, values: list[str | None]) -> list[str | None]:
    con = duckdb.connect()
    register_pseudonymiser(con, key)
    con.execute("create table t as select unnest($v::varchar[]) as v", {"v": values})
    return [r[0] for r in con.execute("select pseudonymise(v) from t").fetchall()]


def test_same_key_same_pseudonym_and_nulls_stay_null():
    first = _pseudonyms("k1", ["17850", "17850", "12345", None])
    assert first[0] == first[1] != first[2]
    assert first[3] is None
    assert all(re.fullmatch(PSEUDONYM_PATTERN, p) for p in first[:3])
    assert all(len(p) == 1 + PSEUDONYM_HEX_CHARS for p in first[:3])
    assert "17850" not in first


def test_another_key_gives_other_pseudonyms():
    assert _pseudonyms("k1", ["17850"]) != _pseudonyms("k2", ["17850"])
