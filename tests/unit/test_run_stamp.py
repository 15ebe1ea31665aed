"""The record of the last whole run says "nothing changed" only when nothing did.

Each test records a run on the files and settings of a temporary warehouse (no pipeline runs:
the record is about inputs and outputs, not about what the assets compute), then changes one
thing and shows that the record gives it as a reason to run.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

import duckdb
import pytest

from ai_roi.lib import monitors, run_stamp
from ai_roi.sources import Freshness
from tests.conftest import FIXTURE_FILES, FIXTURES


@pytest.fixture
def landed(warehouse):
    """A catalogue whose orders come from a landing glob holding one file, and a report."""
    landing = warehouse.root / "landing"
    landing.mkdir()
    shutil.copy(FIXTURES / "order_lines.csv.gz", landing / "orders_2011-01.csv.gz")
    warehouse.write_catalog(
        files={**FIXTURE_FILES, "order_lines": [{"path": str(landing / "*.csv.gz")}]}
    )
    report = warehouse.root / "outputs" / "reports" / "quality.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>quality</html>", encoding="utf-8")
    warehouse.landing = landing
    warehouse.report = report
    return warehouse


def _record(**options) -> dict:
    run_stamp.record(
        run_stamp.inputs(),
        ["run-1"],
        [("staged/order_lines", "schema", "passed", "")],
        strict_clean=options.get("strict_clean", True),
        valid_until=options.get("valid_until"),
    )
    return run_stamp.load()


def _reasons(strict: bool = False) -> list[str]:
    return run_stamp.reasons_to_run(run_stamp.load(), strict)[0]


def test_nothing_changed_gives_no_reason_and_a_touched_file_is_not_a_change(landed):
    _record()
    assert _reasons() == []
    # same bytes, new modification time (a re-sent identical file): hashed again, same content
    path = landed.landing / "orders_2011-01.csv.gz"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert _reasons() == []


def test_no_record_is_a_reason(landed):
    assert _reasons() == ["no record of an earlier whole run that succeeded"]
    _record()
    run_stamp.forget()
    assert _reasons() == ["no record of an earlier whole run that succeeded"]


def test_a_new_changed_or_removed_file_is_a_reason(landed):
    _record()
    new = landed.landing / "orders_2011-02.csv.gz"
    shutil.copy(FIXTURES / "order_lines.csv.gz", new)
    assert _reasons() == ["order_lines: new file orders_2011-02.csv.gz"]
    _record()
    # the same size, other bytes: caught by the content hash, not by the size
    data = bytearray(new.read_bytes())
    data[-1] ^= 0xFF
    new.write_bytes(bytes(data))
    assert _reasons() == ["order_lines: file orders_2011-02.csv.gz changed"]
    new.unlink()
    assert _reasons() == ["order_lines: file orders_2011-02.csv.gz is gone"]


def test_params_catalogue_and_settings_are_reasons(landed, monkeypatch):
    _record()
    landed.write_params(forecast={"lags": 6})
    assert _reasons() == ["params.yaml changed"]
    _record()
    landed.write_catalog(
        files={**FIXTURE_FILES, "order_lines": [{"path": str(landed.landing / "*.csv.gz")}]},
        order_lines={"max_quarantine_share": 0.2},
    )
    assert _reasons() == ["the source catalogue changed"]
    _record()
    # what MLflow sets in the process during a run is not a setting of the user's
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", os.environ["MLFLOW_TRACKING_URI"])
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    assert _reasons() == []
    monkeypatch.setenv("AI_ROI_REPORT_LANG", "ko")
    assert _reasons() == ["the settings changed: AI_ROI_REPORT_LANG"]


def test_an_output_written_by_another_run_is_a_reason(landed):
    _record()
    landed.report.write_text("<html>written by a UI run</html>", encoding="utf-8")
    reasons = _reasons()
    assert len(reasons) == 1 and "quality.html" in reasons[0]


def test_a_verdict_that_expired_is_a_reason(landed):
    _record(valid_until=datetime.now() + timedelta(days=1))
    assert _reasons() == []
    _record(valid_until=datetime.now() - timedelta(minutes=1))
    assert len(_reasons()) == 1 and "verdicts held until" in _reasons()[0]


def test_strict_reruns_a_run_that_had_failing_error_checks(landed):
    _record(strict_clean=False)
    assert _reasons(strict=False) == []
    assert _reasons(strict=True) == [
        "--strict: the recorded run had checks failing with severity error"
    ]


def test_a_change_to_the_code_changes_its_digest(tmp_path):
    package = tmp_path / "ai_roi" / "lib"
    package.mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "uv.lock").write_text("lock\n", encoding="utf-8")
    before = run_stamp.code_digest(tmp_path)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert run_stamp.code_digest(tmp_path) == before  # bytecode is not code
    (package / "a.py").write_text("x = 2\n", encoding="utf-8")
    assert run_stamp.code_digest(tmp_path) != before
    changed = run_stamp.code_digest(tmp_path)
    (tmp_path / "uv.lock").write_text("lock 2\n", encoding="utf-8")
    assert run_stamp.code_digest(tmp_path) != changed


def test_a_row_held_back_under_a_clock_rule_makes_the_verdicts_expire_now():
    con = duckdb.connect()
    con.execute("create schema quarantine; create table quarantine.rows (all_rules varchar[])")
    con.execute("insert into quarantine.rows values (['duplicate_order_line'])")
    assert run_stamp.valid_until(con, {"invoice_date_in_valid_range"}, []) is None
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    sooner = (datetime.now() + timedelta(days=1)).isoformat(timespec="seconds")
    assert run_stamp.valid_until(con, set(), [later, sooner]) == datetime.fromisoformat(sooner)
    con.execute(
        "insert into quarantine.rows values (['country_is_recognised', 'invoice_date_in_valid_range'])"
    )
    until = run_stamp.valid_until(con, {"invoice_date_in_valid_range"}, [later])
    assert until <= datetime.now(until.tzinfo)


def test_freshness_judged_against_the_clock_says_when_it_turns():
    con = duckdb.connect()
    newest = datetime.now().replace(microsecond=0) - timedelta(hours=10)
    con.execute("create table t as select $n::timestamp as at", {"n": newest})
    live = monitors.freshness(con, "t", "at", Freshness(max_lag_hours=48))
    assert live.passed
    assert datetime.fromisoformat(live.observed["valid_until"]) == newest + timedelta(hours=48)
    # judged at a fixed date, or already beyond the cadence: time alone changes nothing
    fixed = monitors.freshness(con, "t", "at", Freshness(max_lag_hours=48, as_of=datetime.now()))
    assert "valid_until" not in fixed.observed
    late = monitors.freshness(con, "t", "at", Freshness(max_lag_hours=5))
    assert not late.passed and "valid_until" not in late.observed


def test_a_carried_failed_check_keeps_the_record_from_being_strict_clean():
    """A run that builds what new deliveries reach carries the other checks' verdicts over from
    the last run; one of those that failed with severity error keeps `--strict` from taking the
    new record as clean, though every check this run ran passed."""
    from ai_roi.cli import strict_clean

    passed = [("raw/order_lines", "raw_order_lines_accuracy", "passed", "")]
    carried_failure = ("ml/router_evaluation", "router_clears_promotion_gate", "failed", "bar")
    carried_warning = ("raw/messages", "raw_messages_consistency", "warn", "12 rows")
    assert strict_clean([], passed + [carried_warning])
    assert not strict_clean([], passed + [carried_failure, carried_warning])
