"""Which deliveries a figure comes from, and the STALE banner of a page written earlier."""

from __future__ import annotations

import json

import pandas as pd

from ai_roi.lib import freshness
from ai_roi.lib.ml_assets import write_frame
from ai_roi.reports import roi_report

USED = {"messages": "a" * 64, "order_lines": "b" * 64}


def test_only_the_sources_a_figure_comes_from_make_it_stale():
    moved_messages = {**USED, "messages": "c" * 64, "ticket_events": "d" * 64}
    assert freshness.changed({"order_lines": USED["order_lines"]}, moved_messages) == []
    reasons = freshness.stale_reasons("metrics/router.json", USED, moved_messages)
    assert reasons == [
        "messages: metrics/router.json comes from delivery aaaaaaaaaaaa, the warehouse now holds "
        "cccccccccccc"
    ]
    assert freshness.stale_reasons("x", USED, USED) == []
    # a figure that does not say where it comes from is never taken as current
    assert freshness.stale_reasons("x", None, USED) == freshness.stale_reasons("x", {}, USED)
    assert "does not say which data" in freshness.stale_reasons("x", None, USED)[0]


def test_an_extract_records_the_deliveries_it_was_built_from(tmp_path):
    path = tmp_path / "extract.parquet"
    write_frame(pd.DataFrame({"x": [1, 2]}), path, USED)
    assert freshness.parquet_versions(path) == USED
    assert pd.read_parquet(path)["x"].tolist() == [1, 2]
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "old.parquet")
    assert freshness.parquet_versions(tmp_path / "old.parquet") is None


def _page(tmp_path, language: str):
    path = tmp_path / f"roi_report.{language}.html"
    path.write_text(
        f'<!doctype html><html lang="{language}"><body>'
        f"{roi_report.FRESHNESS_START}{roi_report.FRESHNESS_END}<h1>ROI 134.9 %</h1>"
        f'<script type="application/json" id="{roi_report.VERSIONS_ID}">'
        f"{json.dumps(USED)}</script></body></html>",
        encoding="utf-8",
    )
    return path


def test_a_page_written_earlier_is_marked_stale_and_unmarked_in_its_language(tmp_path):
    page = _page(tmp_path, "ko")
    clean = page.read_text(encoding="utf-8")
    moved = {**USED, "order_lines": "e" * 64}
    assert roi_report.restamp_all(tmp_path, moved) == [page]
    marked = page.read_text(encoding="utf-8")
    banner = marked.split(roi_report.FRESHNESS_START)[1].split(roi_report.FRESHNESS_END)[0]
    assert "최신 아님" in banner and "bbbbbbbbbbbb" in banner and "eeeeeeeeeeee" in banner
    assert "messages" not in banner
    assert "<h1>ROI 134.9 %</h1>" in marked  # the figures themselves are left as they were
    # restamping again changes nothing; current data again removes the banner
    assert roi_report.restamp(page, moved) is True
    assert page.read_text(encoding="utf-8") == marked
    assert roi_report.restamp(page, USED) is False
    assert page.read_text(encoding="utf-8") == clean
