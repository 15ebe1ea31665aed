"""Redaction and the PII scan's building blocks, on a scratch DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from ai_roi.lib.pii import register_redactor, scan_identifiers, scan_patterns


@pytest.fixture
def con():
    with duckdb.connect() as c:
        register_redactor(c)
        yield c


@pytest.mark.parametrize(
    ("text", "redacted", "kinds"),
    [
        ("mail me at john.doe@example.co.uk please", "mail me at [EMAIL] please", ["email"]),
        ("card 4111 1111 1111 1111 was charged", "card [CARD] was charged", ["card"]),
        ("call +44 20 7946 0958 now", "call [PHONE] now", ["phone"]),
        ("or 010-1234-5678.", "or [PHONE].", ["phone"]),
        (
            "account 12345678 and GB82WEST12345698765432",
            "account [ACCOUNT] and [ACCOUNT]",
            ["account"],
        ),
    ],
)
def test_personal_data_in_text_is_replaced_by_its_kind(con, text, redacted, kinds):
    assert con.execute("select redact_pii(?), pii_kinds(?)", [text, text]).fetchone() == (
        redacted,
        kinds,
    )


@pytest.mark.parametrize(
    "text",
    [
        "I paid 1,500.00 on 2017-12-25 with the card ending 1234",
        "Why is my top-up of 100 pending?",
        "a1234567890123456b",  # a pseudonym: hexadecimal, digits between letters
        "INC0000045 stock 85123A invoice C536379",
        "0.50 fee",
        # a run id whose first groups happen to be all digits (about 1 in 40 are)
        "82196911-1534-4173-9306-95e0c22960fc",
        "expression_is_true_dim_customers_0123456789123",
    ],
)
def test_amounts_dates_codes_and_pseudonyms_are_left_alone(con, text):
    assert con.execute("select redact_pii(?), pii_kinds(?)", [text, text]).fetchone() == (text, [])


def test_scan_counts_matches_per_column_and_kind(con):
    con.execute("create schema m")
    con.execute(
        "create table m.t as select * from (values ('ok', 'x@y.org'), ('call 020 7946 0958', 'fine'),"
        " ('fine', 'z@w.io')) v(a, b)"
    )
    assert scan_patterns(con, "memory", "m", "t") == {"a:phone": 1, "b:email": 2}


def test_identifier_scan_flags_columns_made_of_raw_identifiers_not_coincidences(con):
    con.execute("create schema m")
    ids = [str(12346 + i) for i in range(50)]
    con.execute("create table ids as select unnest(?::varchar[]) as value", [ids])
    # a leaked customer id column, and a code column where 2 of 20 values coincide with ids
    con.execute(
        "create table m.t as select unnest(?::varchar[]) as customer, unnest(?::varchar[]) as code",
        [ids[:20], ids[:2] + [f"8{i:04d}" for i in range(18)]],
    )
    found = scan_identifiers(con, "memory", "m", "t", "select value from ids", 0.5)
    assert found == {"customer": 1.0}


def test_a_pseudonym_of_digits_only_is_not_taken_for_a_card_number(con):
    # on the real data one customer's 16 hex digits were all decimal: hence the letter in front
    from ai_roi.lib.pii import PSEUDONYM_PREFIX

    digits = "1234567890123456"
    assert con.execute("select pii_kinds(?)", [digits]).fetchone()[0] == ["card"]
    assert con.execute("select pii_kinds(?)", [PSEUDONYM_PREFIX + digits]).fetchone()[0] == []


def test_rows_leave_raw_with_identifiers_pseudonymised_and_text_redacted():
    """What raw checks put into failure samples goes through the same macro as the quarantine."""
    from ai_roi.lib.pii import PSEUDONYM_PATTERN, protect_rows
    from ai_roi.lib.staging import register_privacy

    con = duckdb.connect()
    register_privacy(con, "a test key of at least sixteen characters")
    sample = [
        {"customer_id": "17850", "description": "mail jane.roe@example.com", "quantity": "6"},
        {"customer_id": None, "description": None, "quantity": "-1"},
    ]
    first, second = protect_rows(con, "order_lines", sample)
    import re

    assert re.fullmatch(PSEUDONYM_PATTERN, first["customer_id"])
    assert first["description"] == "mail [EMAIL]" and first["quantity"] == "6"
    assert second == {"customer_id": None, "description": None, "quantity": "-1"}  # nulls stay
    # ticket people too, by the source's own personal columns
    (event,) = protect_rows(con, "ticket_events", [{"caller_id": "Caller 290", "state": "New"}])
    assert event["caller_id"] != "Caller 290" and event["state"] == "New"


def test_an_erps_long_document_numbers_are_its_numbering_not_account_numbers(con):
    """Invoice numbers of 8 to 12 digits (SAP's are 10) and EAN-13 product codes look like
    account and card numbers. In the columns dbt declares the business's own numbering
    (meta business_key) the scan leaves the number patterns out; it still finds an e-mail there,
    and the same numbers in free text."""
    import dagster as dg

    from ai_roi.defs.governance.checks import business_keys, scan_result

    declared = business_keys()
    assert {"order_line_id", "invoice_no", "stock_code"} <= declared["fct_order_lines"]
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_order_lines as select * from (values"
        " ('5000012345-1', '5000012345', '4006381333931', 'WHITE MUG'),"
        " ('5000012346-1', '5000012346', '4006381333932', 'PAID FROM 12345678'))"
        " v(order_line_id, invoice_no, stock_code, description)"
    )
    con.execute("create temp table _none as select null::varchar as value where false")
    ids = "select value from _none"
    key = dg.AssetKey(["marts", "fct_order_lines"])
    result = scan_result(con, key, "memory", "marts", ["fct_order_lines"], ids, declared)
    assert result.metadata["pattern_matches"].value == {"description:account": 1}
    # without the declarations, the business's own numbers are taken for personal data
    bare = scan_result(con, key, "memory", "marts", ["fct_order_lines"], ids, {})
    assert {"invoice_no:account", "stock_code:card"} <= set(bare.metadata["pattern_matches"].value)
    con.execute("update marts.fct_order_lines set invoice_no = 'x@example.org' where rowid = 0")
    mailed = scan_result(con, key, "memory", "marts", ["fct_order_lines"], ids, declared)
    assert "invoice_no:email" in mailed.metadata["pattern_matches"].value
