"""A corpus of corrupted deliveries cut from the real order-line file; nothing is ever lost.

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

from dagster_project.cli import failure_reasons
from dagster_project.lib.warehouse import table_fingerprint
from tests.conftest import FIXTURE_FILES, FIXTURES, materialization_metadata

ORDERS = 'key:"raw/order_lines" or key:"staged/order_lines"'


def _rows() -> list[list[str]]:
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as handle:
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
    catalog: dict = field(default_factory=dict)  # changes to sources.order_lines
    filename: str = "orders.csv"


def _text(content: str, encoding: str = "utf-8"):
    return lambda path: path.write_bytes(content.encode(encoding))


def _truncated(path: Path) -> None:
    data = (FIXTURES / "order_lines.csv.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path: Path) -> None:
    path.write_text(_csv(_rows()[:1]), encoding="utf-8")


def _negate(n: int, value: str) -> str:
    return value if value.startswith("-") else f"-{value}"


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
]


def _state(warehouse) -> dict:
    with warehouse.connect() as con:
        return {
            "staged": table_fingerprint(con, "staged.order_lines"),
            "quarantine": table_fingerprint(
                con, "(select * from quarantine.rows where source = 'order_lines')"
            ),
        }


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_bad_delivery_is_explained_or_quarantined_and_nothing_is_lost(warehouse, pipeline, variant):
    assert pipeline(ORDERS).success
    before = _state(warehouse)
    good_rows = warehouse.scalar("select count(*) from raw.order_lines")

    bad = warehouse.root / variant.filename
    variant.write(bad)
    warehouse.write_catalog(
        files={**FIXTURE_FILES, "order_lines": [{"path": str(bad)}]}, order_lines=variant.catalog
    )
    result = pipeline(ORDERS)

    # the good delivery is still in raw, whatever happened to the new one
    assert (
        warehouse.scalar(
            "select count(*) from raw.order_lines where _source_file = 'order_lines.csv.gz'"
        )
        == good_rows
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
        assert _state(warehouse) == before, "the last good staged table or quarantine changed"
    else:
        assert result.success, failure_reasons(result)
        meta = materialization_metadata(result, "staged/order_lines")
        assert meta["rows_in"] == meta["rows_clean"] + meta["rows_quarantined"]
        delivered = warehouse.scalar(
            "select count(*) from raw.order_lines where _source_file = 'orders.csv'"
        )
        assert meta["rows_in"] == delivered
        for rule in variant.quarantined:
            held = warehouse.scalar(
                "select count(*) from quarantine.rows where source = 'order_lines' and rule = $r"
                " and reason <> ''",
                {"r": rule},
            )
            assert held > 0, f"no row quarantined under {rule}"


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
