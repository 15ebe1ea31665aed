"""make ci's comparison of the committed metrics with the ones its run computed."""

from __future__ import annotations

import shutil

from scripts import metrics_match
from tests.conftest import ROOT


def _computed(tmp_path):
    for name in metrics_match.tracked():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_metrics_and_plot_file_of_dvc_yaml_is_compared():
    assert "metrics/router.json" in metrics_match.tracked()
    assert "metrics/forecast_backtest.csv" in metrics_match.tracked()  # a plot file
    assert "metrics/bench.json" not in metrics_match.tracked()  # not a stage's output


def test_a_moved_figure_is_named_with_its_line(tmp_path):
    computed = _computed(tmp_path)
    roi = computed / "metrics" / "roi.json"
    lines = roi.read_text(encoding="utf-8").splitlines()
    changed = next(i for i, line in enumerate(lines) if any(c.isdigit() for c in line))
    lines[changed] = lines[changed].replace(lines[changed].strip(), '"moved": 1,')
    roi.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # the one file changed is the one named; the four copied as committed are not
    (problem,) = metrics_match.differences(computed, metrics_match.tracked())
    assert "committed metrics/roi.json" in problem and '"moved": 1,' in problem.splitlines()[-1]
    assert metrics_match.main([str(computed)]) == 1


def test_a_file_the_run_did_not_write_is_named(tmp_path):
    computed = _computed(tmp_path)
    (computed / "metrics" / "router.json").unlink()
    assert metrics_match.differences(computed, metrics_match.tracked()) == [
        "metrics/router.json: the run wrote no such file"
    ]
