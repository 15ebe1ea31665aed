"""Personal data is protected alike on PostgreSQL: lib.pii.install_on_postgres gives a server the
functions a DuckDB connection has, and on real text they give the same values.

DuckDB's regular expressions are RE2 (leftmost-first); PostgreSQL's are its own engine (the
longest match where a pattern is greedy), so the same pattern can match other text: the
redaction is compared on every message of Banking77's training set and the fixtures' order
lines and ticket events, and on text made to tell the engines apart.
"""

from __future__ import annotations

import gzip
import json

import duckdb
import psycopg
import pytest

from ai_roi.lib import postgres
from ai_roi.lib.pii import PERSONAL_COLUMNS, install_on_postgres
from ai_roi.lib.staging import register_privacy
from scripts import local_postgres
from tests.conftest import FIXTURES, ROOT

KEY = "a test key of at least sixteen characters"
# text where a leftmost-first and a leftmost-longest engine could disagree: alternatives of the
# phone pattern that overlap, numbers that are both a phone and an account, runs at the edges
MADE = [
    "mail me at john.doe@example.co.uk please",
    "card 4111 1111 1111 1111 was charged",
    "call +44 20 7946 0958 now",
    "or 010-1234-5678.",
    "account 12345678 and GB82WEST12345698765432",
    "+44 20 7946 0958 0123 4567",
    "0201234567890123456789",
    "020 7946 0958 1234 5678 9012",
    "4111-1111-1111-1111-111",
    "a@b.co.uk.x and x.y+z@sub.example.org.",
    "+1 (555) 123-4567 or 0044 20 7946 0958",
    "IBAN DE89370400440532013000, acct 0532013000",
    "1234567890123",
    "82196911-1534-4173-9306-95e0c22960fc",
    "I paid 1,500.00 on 2017-12-25 with the card ending 1234",
    "",
    None,
]


@pytest.fixture(scope="module")
def privacy_engines(server):
    """(an in-memory DuckDB, the server's database, the server's PG* variables), each engine with
    the privacy functions and the test key; shared by the module (conftest's `engines` gives a
    test two empty warehouses)."""
    with (
        psycopg.connect(**local_postgres.connect_args(server)) as connection,
        duckdb.connect() as duck,
    ):
        register_privacy(duck, KEY)
        pg = postgres.Warehouse(connection)
        install_on_postgres(pg, KEY)
        yield duck, pg, server


def _read(path) -> duckdb.DuckDBPyRelation:
    return duckdb.sql("select * from read_csv($p, all_varchar = true)", params={"p": str(path)})


def _texts() -> list[str | None]:
    messages = _read(ROOT / "data" / "banking77" / "train.csv.gz").select("text").fetchall()
    return MADE + [text for (text,) in messages]


def _both(duck, pg, values: list, duck_sql: str, pg_sql: str) -> tuple[list, list]:
    """Each engine's `…_sql` (over `v`) for every value, in the values' order."""
    duck.execute(
        "create or replace table t as select * from unnest($v::varchar[]) with ordinality as u(v, i)",
        {"v": values},
    )
    pg.execute("drop table if exists t")
    pg.execute("create table t (v text, i bigint)")
    pg.copy_rows("t", ["v", "i"], duck.sql("select v, i from t"))
    ours = duck.execute(f"select {duck_sql} from t order by i").fetchall()
    theirs = pg.execute(f"select {pg_sql} from t order by i").fetchall()
    return ours, theirs


def test_redaction_finds_and_replaces_the_same_text_on_both_engines(privacy_engines):
    duck, pg, _ = privacy_engines
    texts = _texts()
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        texts += [line.split(",")[2] for line in handle.readlines()[1:]]
    assert len(texts) > 10_000
    ours, theirs = _both(
        duck,
        pg,
        texts,
        "redact_pii(v), pii_kinds(v)",
        "privacy.redact_pii(v), privacy.pii_kinds(v)",
    )
    differing = [(t, o, p) for t, o, p in zip(texts, ours, theirs, strict=True) if o != p]
    assert differing == []
    redacted = sum(o[0] != t for t, o in zip(texts, ours, strict=True) if t)
    assert redacted >= 10  # the made text at least: the comparison saw redactions, not only text


def test_pseudonyms_are_the_same_on_both_engines_and_need_the_sessions_key(privacy_engines):
    duck, pg, env = privacy_engines
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
        ids = sorted(
            {line.rstrip("\n").split(",")[6] or None for line in handle.readlines()[1:]}, key=str
        )
    ours, theirs = _both(duck, pg, ids, "pseudonymise(v)", "privacy.pseudonymise(v)")
    assert ours == theirs
    assert len({o for (o,) in ours if o}) == len([i for i in ids if i])  # one per identifier
    # the key is the installing session's only: no function holds it, another session has none
    stored = pg.execute(
        "select count(*) from pg_proc where strpos(prosrc, $key) > 0", {"key": KEY}
    ).fetchone()[0]
    assert stored == 0
    with (
        psycopg.connect(**local_postgres.connect_args(env)) as other,
        pytest.raises(psycopg.errors.UndefinedObject),
    ):
        other.execute("select privacy.pseudonymise('17850')")


def test_a_record_leaves_raw_protected_alike_on_both_engines(privacy_engines):
    duck, pg, _ = privacy_engines
    events = _read(FIXTURES / "ticket_events.csv.gz")
    rows, header = events.fetchall(), events.columns
    records = [json.dumps(dict(zip(header, row, strict=True))) for row in rows[:500]]
    records.append(json.dumps({"caller_id": None, "note": "call +44 20 7946 0958", "x": ""}))
    personal = list(PERSONAL_COLUMNS["ticket_events"])
    ours, theirs = _both(
        duck,
        pg,
        records,
        f"protect_record(v::json, {personal}::varchar[])::varchar",
        "privacy.protect_record(v::json, array["
        + ", ".join(f"'{p}'" for p in personal)
        + "])::text",
    )

    # the same keys in the same order with the same values (the engines space JSON differently)
    def parsed(values):
        return [list(json.loads(v).items()) for (v,) in values]

    assert parsed(theirs) == parsed(ours)
    first = dict(parsed(ours)[0])
    assert first["caller_id"] != json.loads(records[0])["caller_id"]  # pseudonymised
    assert dict(parsed(ours)[-1])["note"] == "call [PHONE]"
