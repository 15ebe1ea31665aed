"""The owner's pages: words from a catalogue per language, layout from autoescaped templates, and
the quality page's per-source summary (status per dimension, the problems that matter most)."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from ai_roi.lib.rules import DIMENSIONS
from ai_roi.reports import layout, quality_page, roi_charts


def _shape(node, path=""):
    """Every key path of a catalogue, and the placeholders each message formats."""
    if isinstance(node, dict):
        return {
            k: v for key, value in node.items() for k, v in _shape(value, f"{path}/{key}").items()
        }
    if isinstance(node, list):
        return {f"{path}[{len(node)}]": frozenset()}
    return {path: frozenset(re.findall(r"\{(\w*)", str(node)))}


def test_every_language_has_every_message_with_the_same_placeholders():
    english = _shape(layout.messages("en"))
    assert len(english) > 100
    for language in layout.LANGUAGES:
        assert _shape(layout.messages(language)) == english, language


def test_a_catalogue_missing_a_message_is_found():
    broken = {**layout.messages("ko"), "quality": dict(layout.messages("ko")["quality"])}
    del broken["quality"]["todo"]
    missing = set(_shape(layout.messages("en"))) - set(_shape(broken))
    assert {m for m in missing if m.startswith("/quality/todo/")} == {
        f"/quality/todo/{d}" for d in DIMENSIONS
    }


def test_an_unknown_language_is_refused(monkeypatch):
    monkeypatch.setenv(layout.LANGUAGE_ENV, "fr")
    with pytest.raises(ValueError, match="AI_ROI_REPORT_LANG='fr'"):
        layout.language("en")
    monkeypatch.setenv(layout.LANGUAGE_ENV, "ko")
    assert layout.language("en") == "ko"
    assert layout.page_name("quality", "ko") == "quality.ko.html"


def _row(asset, dimension, checks_failed=0, blocking=0, rows_checked=100, rows_failed=0, run="r2"):
    return {
        "run_id": run,
        "asset_key": asset,
        "dimension": dimension,
        "checks_run": 2,
        "checks_failed": checks_failed,
        "blocking_failures": blocking,
        "rows_checked": rows_checked,
        "rows_failed": rows_failed,
        "score": None if rows_checked is None else 100 * (1 - rows_failed / rows_checked),
        "check_pass_rate": 100.0,
    }


LINEAGE = {
    "raw/order_lines": {"order_lines"},
    "staged/order_lines": {"order_lines"},
    "ml/demand_model": {"order_lines"},
    "raw/messages": {"messages"},
    "marts/mart_roi_summary": {"order_lines", "messages"},
}


def _failure(asset, dimension, severity, reasons=None, by_rule=None, detail=""):
    return {
        "asset_key": asset,
        "check_name": f"{asset}_{dimension}",
        "dimension": dimension,
        "severity": severity,
        "detail": detail,
        "reasons": reasons or {},
        "failures_by_rule": by_rule or {},
    }


def test_a_source_is_failed_where_a_blocking_check_fired_warned_where_another_did():
    latest = [
        _row("raw/order_lines", "completeness", checks_failed=1, rows_failed=20),
        _row("staged/order_lines", "uniqueness", checks_failed=1, blocking=1, rows_failed=3),
        _row("staged/order_lines", "accuracy"),
        _row("raw/messages", "accuracy"),
        _row("marts/mart_roi_summary", "consistency", checks_failed=1),
    ]
    history = [_row("raw/order_lines", "completeness", checks_failed=1, rows_failed=50, run="r1")]
    orders, messages, shared = quality_page.summarise(latest, history + latest, LINEAGE)
    assert [s.name for s in (orders, messages, shared)] == ["order_lines", "messages", ""]
    status = {d.dimension: d.status for d in orders.dimensions}
    assert status == {
        "completeness": "warn",
        "uniqueness": "fail",
        "accuracy": "pass",
        "consistency": "none",
        "timeliness": "none",
    }
    assert orders.status == "fail" and messages.status == "pass" and shared.status == "warn"
    completeness = next(d for d in orders.dimensions if d.dimension == "completeness")
    # the score of the rows as delivered (raw), after each run, oldest first
    assert completeness.score == 80.0 and completeness.trend == [50.0, 80.0]
    # the staged score is not the delivered one
    uniqueness = next(d for d in orders.dimensions if d.dimension == "uniqueness")
    assert uniqueness.score is None and orders.delivered_rows == 100


def test_problems_put_a_blocked_run_first_then_rows_held_back_then_warnings_after_cleaning():
    quarantine = [
        {
            "source": "order_lines",
            "rule": "a",
            "dimension": "accuracy",
            "reason": "few",
            "rows": 2,
            "averts_bad_decision": True,
        },
        {
            "source": "order_lines",
            "rule": "b",
            "dimension": "uniqueness",
            "reason": "many",
            "rows": 300,
            "averts_bad_decision": False,
        },
        {
            "source": "messages",
            "rule": "c",
            "dimension": "accuracy",
            "reason": "elsewhere",
            "rows": 999,
            "averts_bad_decision": True,
        },
    ]
    failures = [
        _failure("staged/order_lines", "consistency", "WARN", {"r1": "sign wrong"}, {"r1": 7}),
        _failure("staged/order_lines", "completeness", "ERROR", {"r2": "no rows"}, {"r2": 0}),
        # the raw layer's warnings are measurements: the details show them, not the problems
        _failure("raw/order_lines", "completeness", "WARN", {"r3": "guest order"}, {"r3:c": 50}),
        _failure("ml/demand_model", "accuracy", "WARN", detail="worse than naive"),
    ]
    orders = quality_page.summarise([], [], LINEAGE, failures, quarantine)[0]
    assert [(p.kind, p.reason, p.rows) for p in orders.problems] == [
        ("blocked", "no rows", None),
        ("quarantine", "many", 300),
        ("quarantine", "few", 2),
        ("check", "sign wrong", 7),
        ("check", "worse than naive", None),
    ]


def _page(quarantine_reason: str, language: str = "en", failures=(), rule: str = "x") -> str:
    latest = [_row("raw/order_lines", d) for d in DIMENSIONS]
    data = {
        "history": latest,
        "latest": latest,
        "failures": list(failures),
        "quarantine": [
            {
                "source": "order_lines",
                "rule": rule,
                "dimension": "accuracy",
                "reason": quarantine_reason,
                "rows": 1,
                "averts_bad_decision": True,
                "sample": '{"a": "' + "y" * 400 + '"}',
            }
        ],
        "coverage": [
            {
                "asset_key": "raw/order_lines",
                "dimension": d,
                "checks": 1,
                "columns": 4,
                "columns_covered": 2,
            }
            for d in DIMENSIONS
        ],
        "sources_by_asset": LINEAGE,
        "run_id": "r2",
    }
    return quality_page.render_quality_page(data, language)


def test_what_a_delivery_says_is_shown_as_text_never_as_markup():
    page = _page('<script>alert("x")</script> & <b>bold</b>')
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    # a quarantined record is cut, so the table keeps the page's width
    assert "y" * (quality_page.SAMPLE_CHARS) not in page and "y" * 100 in page


def test_the_page_speaks_the_language_asked_for():
    english, korean = _page("bad value"), _page("bad value", "ko")
    assert '<html lang="en">' in english and '<html lang="ko">' in korean
    assert "What matters most" in english and "가장 중요한 문제" in korean
    assert "1 row held back: bad value." in english
    # one held-back row: singular
    assert "1 rows" not in english
    assert "What matters most" not in korean


def test_a_thin_week_draws_no_resolution_hours():
    weeks = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2017-01-02", "2017-01-09", "2017-01-16"]),
            "period": ["baseline", "pilot", "pilot"],
            "tickets_opened": [40, 1, 12],
            "mean_resolution_hours": [20.0, 900.0, 30.0],
            "mean_resolution_hours_with_ai": [10.0, 400.0, 15.0],
        }
    )
    fig = roi_charts.support_kpis({"productivity": weeks}, layout.messages("en")["roi"], 5)
    lines = {t.name: list(t.y) for t in fig.data if t.type == "scatter"}
    pilot = lines["Mean resolution hours (pilot)"]
    assert math.isnan(pilot[0]) and pilot[1] == 30.0
    with_ai = lines["Mean resolution hours (pilot, with AI)"]
    assert math.isnan(with_ai[0]) and with_ai[1] == 15.0
    assert lines["Mean resolution hours (baseline)"] == [20.0]
    # the bars keep every week's tickets
    bars = [list(t.y) for t in fig.data if t.type == "bar"]
    assert bars == [[40], [1, 12]]


def test_a_check_of_a_whole_model_says_where_to_read_it_not_how_to_fix_rows():
    long = "segment gap " + "; ".join(f"group {i} 0.{i:03d}" for i in range(60))
    page = _page("x", failures=[_failure("ml/demand_model", "accuracy", "WARN", detail=long)])
    orders = page.split('id="source-order_lines"')[1].split("</section>")[0]
    assert "ml/demand_model as a whole" in orders
    assert "Correct the values in the source system" in orders  # the quarantined row's advice
    assert long not in orders and long[: quality_page.DETAIL_CHARS - 1] + "…" in orders
    assert long in page  # in full among the details: the failures table is the engineers'


def test_every_input_the_tornado_can_swing_has_a_name_in_every_language():
    """A new assumption in the params schema needs its words in each catalogue, or the tornado
    would show its field name on the owner's page."""
    from ai_roi.params import (
        AiCosts,
        DataQualityAssumptions,
        InventoryAssumptions,
        SupportAssumptions,
    )
    from ai_roi.roi import scenarios

    swung = {
        name
        for group in (SupportAssumptions, AiCosts, InventoryAssumptions, DataQualityAssumptions)
        for name in group.model_fields
        if name not in scenarios.NOT_IN_ROI
    } | set(scenarios.MEASURED_FACTORS)
    assert "agent_cost_per_hour" in swung and len(swung) > 10
    for language in layout.LANGUAGES:
        named = set(layout.messages(language)["roi"]["assumption_names"])
        assert swung <= named, (language, sorted(swung - named))


def _rules() -> set[str]:
    from ai_roi.defs.sources import SOURCES
    from ai_roi.defs.tickets.schemas import TICKET_RULES
    from ai_roi.lib.rules import PANDERA_BUILTINS

    books = [TICKET_RULES, PANDERA_BUILTINS.values()]
    for source in SOURCES.values():
        books += [source.rules.RAW_RULES, source.rules.STAGED_RULES, source.quarantine_rules]
    return {rule.name for book in books for rule in book}


def test_every_rule_has_its_reason_in_every_language():
    """English words are each rule's own description; every other language names every rule,
    and no rule that is gone."""
    rules = _rules()
    assert layout.reasons("en") == {}
    for language in set(layout.LANGUAGES) - {"en"}:
        assert set(layout.reasons(language)) == rules, language


def test_the_korean_page_gives_a_rules_reason_in_korean_naming_the_file_column():
    recorded = "invoice date does not match timestamp_format (column 'InvoiceDate')"
    korean = _page(recorded, "ko", rule="invoice_date_unparseable")
    assert "송장 날짜가 timestamp_format 형식이 아닙니다 (파일 열 &#39;InvoiceDate&#39;)" in korean
    assert "invoice date does not match" not in korean
    assert recorded.replace("'", "&#39;") in _page(recorded, rule="invoice_date_unparseable")
