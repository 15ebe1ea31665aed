"""A table too large for one frame is validated in parts (lib.rules.validate_table): the
verdicts are those of one frame, on every stage of every source."""

from __future__ import annotations

import copy

import duckdb
import pytest

from ai_roi.defs.messages import schemas as messages
from ai_roi.defs.orders import schemas as orders
from ai_roi.defs.tickets import schemas as tickets
from ai_roi.lib.rules import reach, shared_reach, validate_table
from ai_roi.sources import load_catalog
from tests.conftest import settings

# (table, schema, rule book): each stage the pipeline validates with frame checks
STAGES = {
    "raw order lines": ("raw.order_lines__current", orders.raw_schema, orders.RAW_RULES),
    "staged order lines": ("staged.order_lines", orders.staged_schema, orders.STAGED_RULES),
    "raw ticket events": ("raw.ticket_events__current", tickets.raw_schema, tickets.RAW_RULES),
    "staged ticket events": ("staged.ticket_events", tickets.staged_schema, tickets.STAGED_RULES),
    "tickets": ("staged.tickets", tickets.tickets_schema, tickets.TICKET_RULES),
    "raw messages": ("raw.messages__current", messages.raw_schema, messages.RAW_RULES),
    "staged messages": ("staged.messages", messages.staged_schema, messages.STAGED_RULES),
}


def verdicts(report) -> dict:
    return {
        "rows": report.rows_checked,
        "failed_rows": report.failed_rows,
        "row_failures": report.row_failures,
        "columns": report.columns,
        "outcomes": sorted(
            (o.label, o.failures, o.distinct_keys, o.per_row) for o in report.outcomes
        ),
    }


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_table_validated_in_parts_gets_the_verdicts_of_one_frame(built, stage):
    """In parts split as the pipeline splits it (by the columns its checks compare rows on, where
    they all agree: lib.rules.shared_reach), and split check by check, by each one's reach."""
    warehouse, _ = built
    table, schema, rules = STAGES[stage]
    catalog = load_catalog(settings.sources_path())
    with duckdb.connect(str(warehouse.db_path)) as con:  # parts use a scratch table
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        whole = validate_table(con, table, schema(catalog), rules)
        # parts of about a seventh of the table
        parts = validate_table(con, table, schema(catalog), rules, chunk_rows=rows // 7)
        by_reach = validate_table(
            con, table, schema(catalog), rules, bucket_by=(), chunk_rows=rows // 7
        )
        # the copy the parts were read from is gone
        left = con.execute(
            "select count(*) from duckdb_tables() where table_name like '\\_validating%' escape '\\'"
        ).fetchone()[0]
    assert left == 0
    assert any(o.failures for o in whole.outcomes) or stage.startswith("staged")
    assert verdicts(parts) == verdicts(whole)
    assert verdicts(by_reach) == verdicts(whole)


def test_a_staged_batch_is_split_by_the_identity_its_uniqueness_check_compares():
    catalog = load_catalog(settings.sources_path())
    assert shared_reach(orders.staged_schema(catalog)) == orders.STAGED_LINE_IDENTITY
    assert shared_reach(tickets.tickets_schema(catalog)) == ("ticket_id",)
    # the raw rules compare rows on different columns (and over the whole table): no one split
    assert shared_reach(orders.raw_schema(catalog)) == ()


def test_a_check_that_compares_rows_but_says_it_does_not_gets_other_verdicts_in_parts(built):
    """What the test above guards: a check comparing rows (one description per stock code) that
    is not declared so is validated batch by batch, and misses the rows its batch does not hold."""
    warehouse, _ = built
    catalog = load_catalog(settings.sources_path())
    schema = orders.raw_schema(catalog)
    undeclared = copy.deepcopy(schema)
    for check in undeclared.checks:
        if check.name == "stock_code_has_one_description":
            assert reach(check) == (("stock_code",), ("description", "stock_code"))
            del check.reach
    table = "raw.order_lines__current"
    with duckdb.connect(str(warehouse.db_path)) as con:  # parts use a scratch table
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        declared = validate_table(con, table, schema, orders.RAW_RULES, chunk_rows=rows // 7)
        batched = validate_table(con, table, undeclared, orders.RAW_RULES, chunk_rows=rows // 7)

    def failures(report):
        return {o.label: o.failures for o in report.outcomes}

    assert (
        failures(batched)["stock_code_has_one_description"]
        < (failures(declared)["stock_code_has_one_description"])
    )
