"""A failing blocking check stops everything downstream and the last good tables stay intact."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from ai_roi.cli import failure_reasons
from tests.conftest import FIXTURE_FILES, FIXTURES, check_evaluations, staged_work_tables
from tests.fingerprints import table_fingerprint

MARTS = (
    "fct_order_lines",
    "dim_products",
    "dim_customers",
    "mart_demand_weekly",
    "fct_support_tickets",
)


def _fingerprints(warehouse, tables) -> dict[str, str]:
    with warehouse.connect() as con:
        return {t: table_fingerprint(con, t) for t in tables}


def _materialised(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _orders_with_garbled_dates(path, every: int) -> None:
    """The order-line fixture with one invoice date in `every` unreadable (a botched export)."""
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select * replace (
                case when row_number() over () % {every} = 0 then 'not a date' else InvoiceDate end as InvoiceDate
            )
            from read_csv('{FIXTURES / "order_lines.csv.gz"}', all_varchar = true)
        ) to '{path}' (header, compression gzip)
        """
    )


@pytest.mark.starts_built
def test_mostly_bad_delivery_is_refused_and_last_good_tables_stay(warehouse, pipeline):
    tables = ["staged.order_lines"] + [f"marts.{m}" for m in MARTS]
    before = _fingerprints(warehouse, tables)
    held_before = warehouse.scalar("select count(*) from quarantine.rows")

    bad = warehouse.root / "orders_bad_dates.csv.gz"
    _orders_with_garbled_dates(bad, every=4)  # 25 % of lines, far above max_quarantine_share 5 %
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(bad)}]})
    result = pipeline()

    assert not result.success
    reason = " ".join(failure_reasons(result))
    assert "staged__order_lines" in reason and "invoice_date_unparseable" in reason
    assert "max_quarantine_share" in reason
    assert not any(key.startswith(("marts/", "stg/")) for key in _materialised(result))
    assert _fingerprints(warehouse, tables) == before
    assert warehouse.scalar("select count(*) from quarantine.rows") == held_before
    # the refused delivery is kept in raw beside the good one, for inspection
    assert warehouse.scalar("select count(distinct _load_id) from raw.order_lines") == 2
    # and the batch staged from it is not left beside the staged table
    assert staged_work_tables(warehouse) == []


@pytest.mark.starts_built
def test_empty_delivery_blocks_at_raw_and_keeps_staged_tables(warehouse, pipeline):
    staged = ["staged.order_lines"] + [f"marts.{m}" for m in MARTS]
    before = _fingerprints(warehouse, staged)

    header_only = warehouse.root / "orders_header_only.csv.gz"
    with gzip.open(FIXTURES / "order_lines.csv.gz", "rt", encoding="utf-8") as src:
        header = src.readline()
    with gzip.open(header_only, "wt", encoding="utf-8") as out:
        out.write(header)
    warehouse.write_catalog(files={**FIXTURE_FILES, "order_lines": [{"path": str(header_only)}]})
    result = pipeline()

    assert not result.success
    completeness = check_evaluations(result)["raw_order_lines_completeness"]
    assert not completeness.passed and completeness.severity.value == "ERROR"
    assert "table_has_rows" in completeness.metadata["failed_rules"].value
    materialised = _materialised(result)
    assert "staged/order_lines" not in materialised
    assert not any(key.startswith("marts/") for key in materialised)
    assert _fingerprints(warehouse, staged) == before


def test_warnings_do_not_block(built):
    """The real data's known problems warn (raw checks) but the marts are still built."""
    _, result = built
    warned = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert warned and all(e.severity.value == "WARN" for e in warned)
    assert any(key.startswith("marts/") for key in _materialised(result))


@pytest.mark.starts_built
def test_a_rule_the_staging_sql_emits_but_source_yaml_lacks_stops_staging(warehouse):
    """A source's quarantine rules are declared in its source.yaml and computed by its staging
    SQL under the same names: a name the SQL emits that the declaration lacks (a rule renamed in
    one place only) stops staging before anything is published."""
    from datetime import datetime

    from ai_roi.defs.sources import SOURCES
    from ai_roi.lib.rules import RuleBook
    from ai_roi.lib.staging import prepare_staging
    from ai_roi.sources import load_catalog
    from tests.conftest import settings

    declared = RuleBook(
        *(r for r in SOURCES["order_lines"].quarantine_rules if r.name != "duplicate_order_line")
    )
    tables = ["staged.order_lines", "quarantine.rows"]
    before = _fingerprints(warehouse, tables)
    config = load_catalog(settings.sources_path()).order_lines
    missing = r"rule book: \{'duplicate_order_line'\}"
    with duckdb.connect(str(warehouse.db_path)) as con, pytest.raises(RuntimeError, match=missing):
        prepare_staging(
            con,
            source="order_lines",
            rulebook=declared,
            config=config,
            pseudonym_key="a pseudonym key of the test",
            now=datetime.now(),
        )
    assert _fingerprints(warehouse, tables) == before
