"""Personal data in free text and in marts: the patterns, the privacy functions built from them
(dbt/macros/privacy.sql, for DuckDB and PostgreSQL), and the scan.

Patterns are RE2 (DuckDB's regex engine, no look-around), so each one is wrapped in a boundary
group: a match must not touch a letter, digit, `_` or `-` on either side. That keeps hexadecimal pseudonyms,
stock codes and ticket numbers from looking like card or phone numbers.

Why regular expressions rather than a PII library: the maintained ones (Presidio, scrubadub) need
spaCy language models downloaded at run time for names, which this product must not do, and for
the kinds asked here (e-mail, phone, card and account numbers) they use regular expressions too.
Names in free text are therefore not detected; see the README.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import duckdb

from ai_roi.lib.dbt_sql import render, render_json, template
from ai_roi.lib.warehouse import engine_of

# the dbt macros it renders (lib.dbt_sql), its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/privacy.sql", "dbt/macros/cross_engine.sql")

# What a pattern finds and the token it is replaced with.
# Letters, digits, `_` and `-` are not edges: identifiers such as UUID run ids ("82196911-15db-…")
# and dbt test names hold digit runs between them.
_EDGE_L, _EDGE_R = "(^|[^0-9A-Za-z_-])", "([^0-9A-Za-z_-]|$)"
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    # 13 to 19 digits, optionally in groups: payment card numbers
    "card": _EDGE_L + r"\d(?:[ -]?\d){12,18}" + _EDGE_R,
    # international (+…) or national (leading 0) numbers of 9 digits or more
    "phone": _EDGE_L
    + r"(?:\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{3,4}|0\d{1,3}[ .-]?\d{3,4}[ .-]?\d{3,6})"
    + _EDGE_R,
    # IBAN, or a bare run of 8 to 12 digits: bank account numbers
    "account": _EDGE_L + r"(?:[A-Z]{2}\d{2}[A-Z0-9]{11,30}|\d{8,12})" + _EDGE_R,
}
TOKENS = {kind: f"[{kind.upper()}]" for kind in PATTERNS}

# A pseudonym: the first hex digits of the identifier's HMAC-SHA256 under the pseudonym key, with
# a letter in front: a pseudonym made only of digits would look like a card or account number to
# the PII scan (1 in ~2,000 of them is; the real customer ids produced one).
PSEUDONYM_HEX_CHARS = 16
PSEUDONYM_PREFIX = "p"
PSEUDONYM_PATTERN = rf"^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# the privacy functions' schema on a server warehouse
PRIVACY_SCHEMA = "privacy"
# The PostgreSQL session setting that holds the pseudonym key: set per session, never stored.
PG_KEY_SETTING = "ai_roi.pseudonym_key"


def privacy_spec() -> dict:
    """What dbt's `privacy_functions` (dbt/macros/privacy.sql) builds the functions from: the
    patterns in the order they redact, each with the replacement that keeps the boundary
    characters it consumed on either side; the pseudonym's form; where PostgreSQL keeps them."""
    patterns = []
    for kind, pattern in PATTERNS.items():
        edged = pattern.startswith(_EDGE_L)
        replacement = f"\\1{TOKENS[kind]}\\2" if edged else TOKENS[kind]
        patterns.append({"kind": kind, "pattern": pattern, "replacement": replacement})
    return {
        "patterns": patterns,
        "prefix": PSEUDONYM_PREFIX,
        "hex_chars": PSEUDONYM_HEX_CHARS,
        "key_setting": PG_KEY_SETTING,
        "schema": PRIVACY_SCHEMA,
    }


def privacy_functions(engine: str) -> dict[str, str]:
    """The statements creating each privacy function on `engine`, in the order they must run."""
    return render_json(engine, "privacy_functions", privacy_spec())


def register_redactor(con: duckdb.DuckDBPyConnection) -> None:
    """Add `redact_pii(text)` and `pii_kinds(text)` (the kinds found) to this connection."""
    functions = privacy_functions("duckdb")
    con.execute(functions["redact_pii"])
    con.execute(functions["pii_kinds"])


def register_protector(con: duckdb.DuckDBPyConnection) -> None:
    """Add `protect_record(record json, personal varchar[])`, the one way a row leaves raw.

    Every value of the record is a string afterwards: the columns named in `personal` are
    pseudonymised (`pseudonymise`, registered by lib.staging), every other value has its e-mail
    addresses and phone, card and account numbers redacted. Keys and their order are kept, and a
    null stays null. Needs `register_redactor` and the pseudonymiser on the same connection.
    """
    con.execute(privacy_functions("duckdb")["protect_record"])


def protect_rows(con, source: str, rows: list[dict]) -> list[dict]:
    """`rows` of a raw table as they may appear outside raw (check samples): see protect_record.

    On either engine (`con` a DuckDB connection or a lib.postgres.Warehouse, whose functions
    `install_on_postgres` put in the `privacy` schema), with the same values.
    """
    if not rows:
        return rows
    records = [json.dumps(row, default=str) for row in rows]
    function = render(engine_of(con), "privacy_function", "protect_record")
    protected = con.execute(
        f"select {function}(r::json, $personal::text[])::text"
        " from unnest($records::text[]) with ordinality as t(r, i) order by i",
        {"records": records, "personal": list(PERSONAL_COLUMNS.get(source, ()))},
    ).fetchall()
    return [json.loads(value) for (value,) in protected]


# how information_schema names a text column's type: DuckDB, PostgreSQL
TEXT_TYPES = ("VARCHAR", "text", "character varying")


def text_columns(con, catalog: str, schema: str, table: str) -> list[str]:
    """The text columns of a table, in order, on either engine."""
    return [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns where table_catalog = $catalog"
            " and table_schema = $schema and table_name = $table"
            f" and data_type in ({', '.join(map(_sql_string, TEXT_TYPES))})"
            " order by ordinal_position",
            {"catalog": catalog, "schema": schema, "table": table},
        ).fetchall()
    ]


# The kinds that are runs of digits: in a column of the business's own numbering (invoice and
# document numbers, EAN product codes) they are that numbering, not a person's card or account.
NUMBER_KINDS = ("card", "phone", "account")


def scan_patterns(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    table: str,
    business_keys: Collection[str] = (),
) -> dict[str, int]:
    """Rows per `column:kind` whose text matches a personal-data pattern (only the ones found).

    Each distinct value is matched once and counted with its number of rows: a column repeats
    its values (countries, product codes), so the patterns run over far fewer values than rows.
    In the `business_keys` columns only the patterns that are not runs of digits are looked for.
    """
    found = {}
    matches = template(engine_of(con), "regex_search")  # each engine's spelling, from dbt
    for column in text_columns(con, catalog, schema, table):
        kinds = [k for k in PATTERNS if column not in business_keys or k not in NUMBER_KINDS]
        counts = ", ".join(
            "sum(n) filter (where "
            + matches.format(value="value", pattern=_sql_string(PATTERNS[k]))
            + ")"
            for k in kinds
        )
        row = con.execute(
            f'with v as (select "{column}" as value, count(*) as n'
            f' from "{catalog}"."{schema}"."{table}" where "{column}" is not null group by 1)'
            f" select {counts} from v"
        ).fetchall()[0]
        for kind, n in zip(kinds, row, strict=True):
            if n:
                found[f"{column}:{kind}"] = int(n)
    return found


def scan_identifiers(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    table: str,
    identifiers: str,
    min_share: float,
) -> dict[str, float]:
    """Text columns where at least `min_share` of the distinct values are raw identifiers.

    `identifiers` is a query returning one column `value`: the raw identifiers to look for. A
    share, not a single hit: numeric customer ids and numeric stock codes can coincide, while a
    column that carries identifiers in clear is made of them.
    """
    found = {}
    for column in text_columns(con, catalog, schema, table):
        total, hits = con.execute(
            f'with v as (select distinct "{column}" as value from "{catalog}"."{schema}"."{table}"'
            f' where "{column}" is not null)'
            f" select count(*), count(*) filter (where value in ({identifiers})) from v"
        ).fetchone()
        if hits and hits / total >= min_share:
            found[column] = round(hits / total, 4)
    return found


# Personal identifiers by source, as pipeline column names: pseudonymised in staging, kept in
# clear only in the raw layer, and looked for by the PII scan.
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_lines": ("customer_id",),
    "ticket_events": (
        "caller_id",
        "opened_by",
        "created_by",
        "updated_by",
        "assigned_to",
        "resolved_by",
    ),
}


def install_on_postgres(pg, key: str) -> None:
    """The privacy functions of a DuckDB connection, in the `privacy` schema of a PostgreSQL
    warehouse (a lib.postgres.Warehouse), with the same values (tests/integration/
    test_privacy_on_postgres.py): `redact_pii(text)`, `pii_kinds(text)`, `pseudonymise(text)`
    (pgcrypto's HMAC-SHA256) and `protect_record(json, text[])`.

    The key is this session's setting only: no function body or table holds it.
    """
    schema = PRIVACY_SCHEMA
    pg.execute("begin transaction")
    try:
        # sessions that install at once would otherwise replace the same functions together
        pg.execute(f"select pg_advisory_xact_lock(hashtext('{schema}'))")
        pg.execute(f"create schema if not exists {schema}")
        pg.execute(f"create extension if not exists pgcrypto with schema {schema}")
        for statement in privacy_functions("postgres").values():
            pg.execute(statement)
        pg.execute("commit")
    except BaseException:
        pg.execute("rollback")
        raise
    pg.execute(f"select set_config('{PG_KEY_SETTING}', $key, false)", {"key": key})
