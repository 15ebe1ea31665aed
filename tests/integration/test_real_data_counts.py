"""The checks find every data problem the source READMEs list, with the count the README measured.

The READMEs in data/*/SOURCE.md were measured independently (pandas), so they are the oracle here.
This runs the raw and staged layers on the full embedded data (about 15 s).
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT, check_evaluations, materialization_metadata, run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AI_ROI_DUCKDB_PATH", str(tmp / "warehouse.duckdb"))
        mp.setenv("AI_ROI_SOURCES", str(ROOT / "config" / "sources.yaml"))
        result = run_pipeline("group:raw or group:staged")
        yield result


def failures(result, check: str) -> dict:
    return check_evaluations(result)[check].metadata["failures_by_rule"].value


def distinct(result, check: str) -> dict:
    return check_evaluations(result)[check].metadata["distinct_keys_by_rule"].value


def test_the_run_on_real_data_succeeds(real_run):
    assert real_run.success


def test_order_line_problems_match_the_readme(real_run):
    completeness = failures(real_run, "raw_order_lines_completeness")
    assert completeness["customer_id_present:customer_id"] == 135_080
    assert completeness["description_present:description"] == 1_454
    accuracy = failures(real_run, "raw_order_lines_accuracy")
    assert accuracy["quantity_is_positive:quantity"] == 10_624
    assert accuracy["negative_quantity_only_on_cancellations"] == 1_336
    assert accuracy["unit_price_not_zero:unit_price"] == 2_515
    assert accuracy["unit_price_not_negative:unit_price"] == 2
    assert accuracy["quantity_within_plausible_range:quantity"] == 5
    assert accuracy["unit_price_within_plausible_range:unit_price"] > 0  # up to 38,970
    consistency = failures(real_run, "raw_order_lines_consistency")
    assert consistency["stock_code_is_product:stock_code"] == 2_995
    assert consistency["product_code_is_uppercase"] == 1_942
    assert consistency["description_is_trimmed:description"] == 113_452
    assert consistency["description_has_uppercase:description"] == 549
    keys = distinct(real_run, "raw_order_lines_consistency")
    assert keys["stock_code_has_one_description"] == 650
    assert keys["description_has_one_stock_code"] == 172
    assert keys["customer_has_one_country"] == 8
    # "10,147 rows take part in duplication"
    assert failures(real_run, "raw_order_lines_uniqueness")["order_line_is_unique"] == 10_147
    # Dec-2011 is a partial month
    assert failures(real_run, "raw_order_lines_timeliness")["invoice_month_is_complete"] > 0


def test_order_line_quarantine_and_flags_match_the_readme(real_run):
    staged = materialization_metadata(real_run, "staged/order_lines")
    quarantined = staged["quarantined_by_rule"]
    assert quarantined["duplicate_order_line"] == 5_268
    assert quarantined["negative_quantity_not_cancellation"] == 1_336
    assert quarantined["unit_price_negative"] == 2
    # 9,288 cancellation lines, less the 37 that are exact duplicates of another cancellation line
    assert staged["flagged_rows"]["is_cancellation"] + 37 == 9_288
    assert staged["rows_in"] == 541_909


def test_ticket_problems_match_the_readme(real_run):
    completeness = failures(real_run, "raw_ticket_events_completeness")
    readme_placeholders = {
        "caller_id": 29,
        "opened_by": 4_835,
        "created_by": 53_076,
        "created_at": 53_076,
        "location": 76,
        "category": 78,
        "subcategory": 111,
        "symptom": 32_964,
        "assignment_group": 14_213,
        "assigned_to": 27_496,
        "closed_code": 714,
        "resolved_by": 226,
        "resolved_at": 3_141,
    }
    for column, count in readme_placeholders.items():
        assert completeness[f"value_present:{column}"] == count, column
    assert completeness["resolved_event_has_resolved_at"] == 1_561
    assert failures(real_run, "raw_ticket_events_accuracy")["state_is_valid:state"] == 5
    consistency = failures(real_run, "raw_ticket_events_consistency")
    assert consistency["created_not_before_opened"] == 34
    assert consistency["updated_not_before_opened"] == 5
    keys = distinct(real_run, "raw_ticket_events_consistency")
    assert keys["priority_stable_within_ticket"] == 383
    assert keys["category_stable_within_ticket"] == 1_216
    # the leakage: working-state events already carry the final resolution time
    assert (
        failures(real_run, "raw_ticket_events_timeliness")["open_event_has_no_resolution_time"]
        >= 36_392
    )


def test_tickets_reduce_to_the_readme_figures(real_run):
    events = materialization_metadata(real_run, "staged/ticket_events")
    assert events["quarantined_by_rule"] == {"state_invalid": 5, "updated_before_opened": 5}
    profile = materialization_metadata(real_run, "staged/tickets")["profile"]
    assert profile["tickets"] == 24_918
    assert profile["reassigned"] == 11_369
    assert profile["reopened"] == 275
    assert profile["final_event_without_resolved_at"] == 1_556
    assert profile["median_resolution_hours"] == pytest.approx(22.1, abs=0.05)
    assert profile["missed_sla"] / profile["tickets"] == pytest.approx(0.366, abs=0.001)
    assert failures(real_run, "staged_tickets_completeness")["final_event_has_resolved_at"] == 1_556
    # skew: 99.1 % of events by phone, 93.5 % priority 3; 24,437 tickets opened Mar-May 2016
    assert profile["events_top_contact_type_pct"] == 99.1
    assert profile["events_top_priority_pct"] == 93.5
    assert profile["tickets_in_busiest_3_months"] == 24_437


def test_message_problems_match_the_readme(real_run):
    consistency = failures(real_run, "raw_messages_consistency")
    assert consistency["text_is_trimmed:text"] == 12
    assert consistency["text_is_ascii:text"] == 61
    uniqueness = failures(real_run, "raw_messages_uniqueness")
    assert uniqueness["text_unique_within_split"] == 10 + 1
    assert uniqueness["text_not_in_other_split"] == 6
    per_label = materialization_metadata(real_run, "staged/messages")["examples_per_label"]
    labels = yaml.safe_load((ROOT / "data" / "banking77" / "categories.json").read_text())
    assert per_label["train"] == {"labels": len(labels), "min": 35, "max": 187}
    assert per_label["test"] == {"labels": len(labels), "min": 40, "max": 40}
