"""A corpus of corrupted deliveries cut from the real files of all three sources; nothing is lost.

Each variant is loaded after a good delivery. It either fails with a message naming the file,
column and rule (and the staged table and quarantine of the good delivery stay exactly as they
were), or it runs and every bad row is in the quarantine with its reason.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ai_roi.cli import failure_reasons
from tests.conftest import FIXTURE_FILES, FIXTURES, materialization_metadata
from tests.fingerprints import table_fingerprint

pytestmark = pytest.mark.long

ORDERS = 'key:"raw/order_lines" or key:"staged/order_lines"'
# per source: the fixture a variant replaces, its partition, and the assets that load it
FIXTURE = {
    "order_lines": ("order_lines.csv.gz", None),
    "ticket_events": ("ticket_events.csv.gz", None),
    "messages": ("messages_test.csv.gz", "test"),
}


def _selection(source: str) -> str:
    return f'key:"raw/{source}" or key:"staged/{source}"'


def _rows(source: str = "order_lines") -> list[list[str]]:
    with gzip.open(FIXTURES / FIXTURE[source][0], "rt", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _set(rows, column: str, value: Callable[[int, str], str], every: int = 1):
    header, body = rows[0], rows[1:]
    i = header.index(column)
    for n, row in enumerate(body):
        if n % every == 0:
            row[i] = value(n, row[i])
    return [header, *body]


def _drop_column(rows, column):
    i = rows[0].index(column)
    return [r[:i] + r[i + 1 :] for r in rows]


@dataclass
class Variant:
    name: str
    write: Callable[[Path], None]
    # either the run fails and its message names all of `says`...
    says: list[str] = field(default_factory=list)
    # ...or it succeeds and these quarantine rules hold rows of the delivery
    quarantined: list[str] = field(default_factory=list)
    # changes to the source's catalogue entry, or a function of the test's folder returning them
    catalog: dict | Callable[[Path], dict] = field(default_factory=dict)
    filename: str = "orders.csv"
    source: str = "order_lines"


def _text(content: str, encoding: str = "utf-8"):
    return lambda path: path.write_bytes(content.encode(encoding))


def _truncated(path: Path) -> None:
    data = (FIXTURES / "order_lines.csv.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path: Path) -> None:
    path.write_text(_csv(_rows()[:1]), encoding="utf-8")


def _negate(n: int, value: str) -> str:
    return value if value.startswith("-") else f"-{value}"


def _rotate(*values: str) -> Callable[[int, str], str]:
    return lambda n, _value: values[n % len(values)]


def _write(source: str, edit: Callable[[list[list[str]]], list[list[str]]]):
    return lambda path: path.write_text(_csv(edit(_rows(source))), encoding="utf-8")


def _broken_label_set(folder: Path) -> dict:
    path = folder / "labels.json"
    path.write_text('["card_arrival", "lost_card",\n  "card_linking"', encoding="utf-8")
    return {"label_set_path": str(path)}


A_DOCUMENT = "pasted report " * 36_000  # about 500 KB in one field


VARIANTS = [
    Variant(
        "truncated_gzip",
        _truncated,
        says=["orders.csv.gz", "complete"],
        filename="orders.csv.gz",
    ),
    Variant(
        "wrong_encoding",
        lambda p: p.write_bytes(_csv(_rows()).encode("utf-16")),
        says=["orders.csv", "encoding"],
    ),
    Variant(
        "wrong_delimiter",
        lambda p: p.write_text(_csv(_rows(), delimiter=";"), encoding="utf-8"),
        says=["orders.csv", "delimiter", "csv options in the source catalogue"],
    ),
    Variant(
        "missing_column",
        lambda p: p.write_text(_csv(_drop_column(_rows(), "Country")), encoding="utf-8"),
        says=["orders.csv", "'Country' for country", "sources.order_lines.columns"],
    ),
    Variant(
        "renamed_column",
        lambda p: p.write_text(
            _csv([[c.replace("CustomerID", "Customer ID") for c in _rows()[0]], *_rows()[1:]]),
            encoding="utf-8",
        ),
        says=["orders.csv", "'CustomerID'", "did it become 'Customer ID'", "columns"],
    ),
    Variant(
        "extra_column",
        lambda p: p.write_text(
            _csv([r + (["Discount"] if i == 0 else ["0"]) for i, r in enumerate(_rows())]),
            encoding="utf-8",
        ),
        says=["raw_order_lines_schema_change", "new Discount", "accepted_schema_changes"],
    ),
    Variant(
        "type_drift",
        lambda p: p.write_text(
            _csv(_set(_rows(), "UnitPrice", lambda n, v: f"GBP {v}")), encoding="utf-8"
        ),
        says=["raw_order_lines_schema_change", "retyped UnitPrice (number → text)"],
    ),
    Variant("empty_file", _text(""), says=["orders.csv", "empty"]),
    Variant(
        "header_only",
        _header_only,
        says=["raw_order_lines_completeness", "table_has_rows"],
    ),
    Variant(
        "duplicate_lines_in_delivery",
        lambda p: p.write_text(_csv(_rows() + _rows()[1:25]), encoding="utf-8"),
        quarantined=["duplicate_order_line"],
    ),
    Variant(
        "impossible_dates",
        lambda p: p.write_text(
            _csv(
                _set(
                    _rows(),
                    "InvoiceDate",
                    lambda n, v: "2099-01-01 10:00:00" if n % 2 else "2011-02-30 10:00:00",
                    every=197,
                )
            ),
            encoding="utf-8",
        ),
        quarantined=["invoice_date_out_of_range", "invoice_date_unparseable"],
    ),
    Variant(
        "nulls_in_keys",
        lambda p: p.write_text(
            _csv(
                _set(
                    _set(_rows(), "InvoiceNo", lambda n, v: "", every=307),
                    "StockCode",
                    lambda n, v: "",
                    every=263,
                )
            ),
            encoding="utf-8",
        ),
        quarantined=["invoice_no_missing", "stock_code_missing"],
    ),
    Variant(
        "negative_quantities_at_scale",
        lambda p: p.write_text(_csv(_set(_rows(), "Quantity", _negate, every=3)), encoding="utf-8"),
        says=["staged__order_lines", "negative_quantity_not_cancellation", "max_quarantine_share"],
    ),
    # a fractional quantity is never rounded into a sale (try_cast('1.5' as bigint) is 2)
    Variant(
        "fractional_quantity",
        _write("order_lines", lambda r: _set(r, "Quantity", _rotate("1.5", "2.50"), every=151)),
        quarantined=["quantity_not_integer"],
    ),
    Variant(
        "number_formats",
        _write(
            "order_lines",
            lambda r: _set(
                _set(r, "Quantity", _rotate("1,000", "1e3", "NaN", "inf"), every=149),
                "UnitPrice",
                _rotate("1e3", "1,250.00", "-inf", "2.123456"),
                every=157,
            ),
        ),
        quarantined=["quantity_not_integer", "unit_price_not_numeric"],
    ),
    # a 13-digit barcode typed into Quantity: on an expensive line its amount overflowed staging
    Variant(
        "barcode_in_quantity",
        _write(
            "order_lines",
            lambda r: _set(
                _set(r, "Quantity", _rotate("5012345678900"), every=211),
                "UnitPrice",
                _rotate("2500.00"),
                every=422,
            ),
        ),
        quarantined=["quantity_implausible"],
    ),
    Variant(
        "document_in_description",
        _write("order_lines", lambda r: _set(r, "Description", _rotate(A_DOCUMENT), every=5000)),
        quarantined=["value_too_long"],
    ),
    Variant(
        "fractional_count",
        _write(
            "ticket_events",
            lambda r: _set(r, "reassignment_count", _rotate("1.5", "2e1"), every=173),
        ),
        quarantined=["count_not_integer"],
        source="ticket_events",
        filename="tickets.csv",
    ),
    Variant(
        "document_in_ticket",
        _write("ticket_events", lambda r: _set(r, "u_symptom", _rotate(A_DOCUMENT), every=4000)),
        quarantined=["value_too_long"],
        source="ticket_events",
        filename="tickets.csv",
    ),
    Variant(
        "document_in_message",
        _write("messages", lambda r: _set(r, "text", _rotate(A_DOCUMENT), every=400)),
        quarantined=["text_length_out_of_range"],
        source="messages",
        filename="messages.csv",
    ),
    Variant(
        "malformed_label_set",
        _write("messages", lambda r: r),
        says=["labels.json", "not valid JSON", "line 2", "expected a JSON list of label strings"],
        catalog=_broken_label_set,
        source="messages",
        filename="messages.csv",
    ),
]


def _state(warehouse, source: str) -> dict:
    with warehouse.connect() as con:
        return {
            "staged": table_fingerprint(con, f"staged.{source}"),
            "quarantine": table_fingerprint(
                con, f"(select * from quarantine.rows where source = '{source}')"
            ),
        }


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_bad_delivery_is_explained_or_quarantined_and_nothing_is_lost(warehouse, pipeline, variant):
    source = variant.source
    fixture, partition = FIXTURE[source]
    selection = _selection(source)
    assert pipeline(selection).success
    before = _state(warehouse, source)
    good_rows = warehouse.scalar(f"select count(*) from raw.{source}")

    bad = warehouse.root / variant.filename
    variant.write(bad)
    changes = variant.catalog(warehouse.root) if callable(variant.catalog) else variant.catalog
    files = {**FIXTURE_FILES}
    files[source] = [
        *(f for f in FIXTURE_FILES[source] if not f["path"].endswith(fixture)),
        {"path": str(bad), **({"partition": partition} if partition else {})},
    ]
    warehouse.write_catalog(files=files, **{source: changes})
    result = pipeline(selection)

    # the good delivery is still in raw, whatever happened to the new one
    assert (
        warehouse.scalar(f"select count(*) from raw.{source} where _source_file = ?", [fixture])
        == good_rows
        if partition is None
        else warehouse.scalar(f"select count(*) from raw.{source}") >= good_rows
    )
    if variant.says:
        assert not result.success
        message = " ".join(failure_reasons(result))
        for check in result.get_asset_check_evaluations():
            if not check.passed and check.severity.value == "ERROR":
                meta = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
                message += (
                    f" {check.check_name} {meta.get('summary', '')} {meta.get('failed_rules', '')}"
                )
        for fragment in variant.says:
            assert fragment in message, f"{fragment!r} not in: {message}"
        assert "Traceback" not in message
        assert _state(warehouse, source) == before, (
            "the last good staged table or quarantine changed"
        )
    else:
        assert result.success, failure_reasons(result)
        meta = materialization_metadata(result, f"staged/{source}")
        assert meta["rows_in"] == meta["rows_clean"] + meta["rows_quarantined"]
        delivered = warehouse.scalar(f"select count(*) from raw.{source}__current")
        assert meta["rows_in"] == delivered
        for rule in variant.quarantined:
            held = warehouse.scalar(
                "select count(*) from quarantine.rows where source = $s and rule = $r"
                " and reason <> '' and source_file = $f",
                {"s": source, "r": rule, "f": variant.filename},
            )
            assert held > 0, f"no row of {variant.filename} quarantined under {rule}"


def test_no_fractional_or_barcode_quantity_is_staged(warehouse, pipeline):
    """Each such line is held back under its rule, never staged as a neighbouring whole number."""
    rows = _rows()
    header = rows[0]
    q, inv = header.index("Quantity"), header.index("InvoiceNo")
    marked = {"quantity_not_integer": 0, "quantity_implausible": 0}
    for n, row in enumerate(rows[1:]):
        if n % 97 == 0 and not row[inv].startswith("C"):
            fractional = n % 2 == 1
            row[q] = "1.5" if fractional else "5012345678900"
            marked["quantity_not_integer" if fractional else "quantity_implausible"] += 1
    bad = warehouse.root / "orders.csv"
    bad.write_text(_csv(rows), encoding="utf-8")
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(bad)}]})
    result = pipeline(ORDERS)
    assert result.success, failure_reasons(result)
    held = dict(
        warehouse.query(
            "select rule, count(*) from quarantine.rows where source = 'order_lines'"
            " and rule in ('quantity_not_integer', 'quantity_implausible') group by rule"
        )
    )
    assert held == marked and all(marked.values())
    assert warehouse.scalar("select max(abs(quantity)) from staged.order_lines") < 1_000_000


def test_extra_column_runs_once_accepted_in_the_catalogue(warehouse, pipeline):
    assert pipeline(ORDERS).success
    bad = warehouse.root / "orders.csv"
    VARIANTS[5].write(bad)  # extra_column
    files = {**FIXTURE_FILES, "order_lines": [{"path": str(bad)}]}
    warehouse.write_catalog(files=files)
    assert not pipeline(ORDERS).success
    warehouse.write_catalog(files=files, order_lines={"accepted_schema_changes": ["Discount"]})
    result = pipeline(ORDERS)
    assert result.success, failure_reasons(result)
    assert (
        warehouse.scalar(
            "select status from quality.source_schemas order by decided_at desc limit 1"
        )
        == "accepted"
    )


def test_renamed_column_runs_once_mapped(warehouse, pipeline):
    assert pipeline(ORDERS).success
    bad = warehouse.root / "orders.csv"
    VARIANTS[4].write(bad)  # renamed_column
    files = {**FIXTURE_FILES, "order_lines": [{"path": str(bad)}]}
    columns = {**warehouse_columns(), "customer_id": "Customer ID"}
    warehouse.write_catalog(files=files, order_lines={"columns": columns})
    result = pipeline(ORDERS)
    assert result.success, failure_reasons(result)


def warehouse_columns() -> dict:
    from tests.conftest import PRODUCT_CATALOG

    return dict(PRODUCT_CATALOG["sources"]["order_lines"]["columns"])
