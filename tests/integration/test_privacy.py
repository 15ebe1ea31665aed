"""Personal data stops at the raw layer: messages are redacted, and the PII scan blocks a mart
that carries any, on deliveries cut from the real fixtures."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from tests.conftest import FIXTURE_FILES, FIXTURES, check_evaluations, materialization_metadata

EMAIL = "jane.roe@example.com"


def _with_email(source: str, column: str, row: int, tmp_path, key: str | None = None):
    """A copy of a fixture file with an e-mail address written into `column` of one row, or of
    every row sharing that row's `key` column."""
    name = {"order_lines": "order_lines.csv.gz", "messages": "messages_test.csv.gz"}[source]
    with gzip.open(FIXTURES / name, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    i = rows[0].index(column)
    k = rows[0].index(key) if key else None
    for r in rows[1:]:
        if r is rows[row] or (k is not None and r[k] == rows[row][k]):
            r[i] = f"{r[i]} contact {EMAIL}"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / f"pii_{name}"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(out.getvalue())
    return rows[row], path


def test_an_email_in_an_order_description_fails_the_pii_scan_and_stops_downstream(
    warehouse, pipeline, tmp_path
):
    # every line of one product: its description in dim_products carries the address
    _, path = _with_email("order_lines", "Description", 5, tmp_path, key="StockCode")
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(path)}]})
    result = pipeline(
        'group:raw or group:staged or group:stg or group:marts or key:"ml/demand_history"'
    )
    scans = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "pii_scan" and not e.passed
    ]
    failed = {e.asset_key.to_user_string(): e for e in scans}
    assert "marts/dim_products" in failed
    assert "description:email" in failed["marts/dim_products"].metadata["pattern_matches"].value
    assert failed["marts/dim_products"].severity.value == "ERROR"
    # blocking: what reads the marts was not built
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "ml/demand_history" not in built
    assert not result.success
    # the scan is in the quality history like every other check
    assert (
        warehouse.scalar(
            "select count(*) from quality.check_results where check_name = 'pii_scan'"
            " and not passed and run_id = ?",
            [result.run_id],
        )
        == 1  # dim_products: the other marts hold no description
    )


@pytest.mark.starts_built
def test_clean_fixtures_pass_the_pii_scan_on_every_mart(warehouse, template):
    """The fixtures' whole build (what a first `ai-roi run` builds): every mart's scan passed."""
    result = template.result
    assert result.success
    scans = [e for e in result.get_asset_check_evaluations() if e.check_name == "pii_scan"]
    assert len(scans) >= 7 and all(e.passed for e in scans)
    # pseudonymised keys reach the marts; raw customer ids do not
    raw_ids = {
        v for (v,) in warehouse.query("select distinct customer_id from raw.order_lines__current")
    }
    keys = {v for (v,) in warehouse.query("select distinct customer_key from marts.dim_customers")}
    assert keys and not (keys & raw_ids)


def test_an_email_in_a_message_is_redacted_before_staging(warehouse, pipeline, tmp_path):
    row, path = _with_email("messages", "text", 3, tmp_path)
    files = {**FIXTURE_FILES}
    files["messages"] = [
        {"path": str(FIXTURES / "messages_train.csv.gz"), "partition": "train"},
        {"path": str(path), "partition": "test"},
    ]
    warehouse.write_catalog(files=files)
    result = pipeline('key:"raw/messages" or key:"staged/messages"')
    assert result.success
    meta = materialization_metadata(result, "staged/messages")
    assert meta["pii_redacted_by_kind"] == {"email": 1}
    assert meta["flagged_rows"]["has_redacted_pii"] == 1
    # raw keeps what was delivered; staged holds the token instead
    assert (
        warehouse.scalar(
            "select count(*) from raw.messages__current where contains(text, ?)", [EMAIL]
        )
        == 1
    )
    assert (
        warehouse.scalar("select count(*) from staged.messages where contains(text, ?)", [EMAIL])
        == 0
    )
    assert (
        warehouse.scalar("select count(*) from staged.messages where contains(text, '[EMAIL]')")
        == 1
    )
    assert check_evaluations(result)  # the staged checks still ran


# Delivered messages carrying personal data, each taking a different path through the pipeline.
CLEAR_VALUES = (
    "alice.smith@example.org",
    "bob.jones@example.net",
    "carol.white@example.com",
    "7946 0958",
    "7946 0123",
    "4111 1111 1111 1111",
    "5500 0000 0000 0004",
)
PERSONAL_MESSAGES = [
    ("my email is alice.smith@example.org, why has my card not arrived?", "card_arrival"),
    ("call me on +44 20 7946 0958 about my card", "card_arrival"),
    ("my card 4111 1111 1111 1111 was declined at the shop", "declined_card_payment"),
    # quarantined: an intent the label set does not know
    ("write to bob.jones@example.net or ring +44 20 7946 0123", "complaint_about_staff"),
    # quarantined: longer than max_text_length
    (
        "my card 5500 0000 0000 0004 " + "is still not here " * 150 + "carol.white@example.com",
        "card_arrival",
    ),
    # quarantined: no text at all
    ("", "card_arrival"),
]


def _messages_with_personal_data(tmp_path):
    with gzip.open(FIXTURES / "messages_test.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows + [list(m) for m in PERSONAL_MESSAGES])
    path = tmp_path / "messages_personal.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(out.getvalue())
    return path


def _clear_values_in(text: str) -> list[str]:
    return [v for v in CLEAR_VALUES if v in text or v.replace(" ", "") in text]


def test_no_clear_personal_value_leaves_raw(warehouse, pipeline, tmp_path):
    """Tables outside raw, the export, check metadata in the event log, reports, MLflow artifacts."""
    import duckdb
    import pytest
    from dagster._serdes import serialize_value

    files = {**FIXTURE_FILES}
    files["messages"] = [
        {"path": str(FIXTURES / "messages_train.csv.gz"), "partition": "train"},
        {"path": str(_messages_with_personal_data(tmp_path)), "partition": "test"},
    ]
    warehouse.write_catalog(files=files)
    result = pipeline()
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    # the test really delivered them: raw holds every one, and the three odd ones are quarantined
    raw_text = " ".join(t or "" for (t,) in warehouse.query("select text from raw.messages"))
    assert not set(CLEAR_VALUES) - set(_clear_values_in(raw_text))
    rules = {
        r for (r,) in warehouse.query("select rule from quarantine.rows where source = 'messages'")
    }
    assert {"label_unknown", "text_length_out_of_range", "text_missing"} <= rules

    leaks = []
    for path in (warehouse.db_path, warehouse.root / "exports" / "analytics.duckdb"):
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() where schema_name <> 'raw'"
            ).fetchall()
            for schema, table in tables:
                text = " ".join(
                    str(row)
                    for row in con.execute(f'select * from "{schema}"."{table}"').fetchall()
                )
                leaks += [f"{path.name} {schema}.{table}: {v}" for v in _clear_values_in(text)]
    from tests.conftest import dagster_instance

    instance = dagster_instance()
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is not None and event.event_type_value.startswith("ASSET_CHECK"):
                found = _clear_values_in(serialize_value(event.event_specific_data))
                leaks += [f"event log {event.asset_key}: {v}" for v in found]
    for folder in (warehouse.root / "outputs" / "reports", warehouse.root / "mlflow"):
        files_seen = [p for p in folder.rglob("*") if p.is_file()]
        if folder.name == "reports" and not files_seen:
            pytest.fail("no reports were written")
        for p in files_seen:
            text = p.read_bytes().decode("utf-8", errors="replace")
            leaks += [f"{p.relative_to(warehouse.root)}: {v}" for v in _clear_values_in(text)]
    assert not leaks, leaks
