"""dvc.yaml lists every module each stage's assets import, so `dvc repro` never skips a stage."""

from __future__ import annotations

import copy

import yaml

from scripts import dvc_deps
from tests.conftest import ROOT


def _dvc() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def test_dvc_yaml_lists_the_code_every_stage_imports():
    assert dvc_deps.missing(_dvc()) == {}


def test_the_closure_follows_imports_into_shared_modules():
    # the dependencies the hand-written list missed
    assert "ai_roi/reports/quality_page.py" in dvc_deps.stage_code("roi")
    assert "ai_roi/params.py" in dvc_deps.stage_code("router")
    assert "ai_roi/params.py" in dvc_deps.stage_code("forecaster")
    assert "ai_roi/lib/pii.py" in dvc_deps.stage_code("warehouse")


def test_a_packages_data_folders_are_its_code(tmp_path):
    """The reports' templates and message catalogues (folders of no module) are the roi stage's
    code, and part of the report assets' code version: editing a template re-runs the stage."""
    from ai_roi.lib import code_versions

    roi = dvc_deps.stage_code("roi")
    assert "ai_roi/reports/templates" in roi
    assert "ai_roi/reports/messages" in roi
    assert not any(f.startswith("ai_roi/reports/templates/") for f in roi)

    # the report module's closure (what its code version hashes) holds its template: read from
    # a copy of the package, as from any root
    import shutil

    shutil.copytree(ROOT / "ai_roi", tmp_path / "ai_roi")
    module = "ai_roi.reports.roi_report"
    files = code_versions.closure([module], tmp_path)
    template = tmp_path / "ai_roi" / "reports" / "templates" / "roi_report.html.j2"
    assert template in files


def test_the_dbt_macros_a_module_renders_are_its_code(tmp_path):
    """Staging renders its SQL from the dbt project's macros (lib.staging names them in
    CODE_PATHS): they are the warehouse stage's code, and a change to one changes the staged
    assets' code version."""
    from ai_roi.lib import code_versions

    assert "dbt/macros" in dvc_deps.stage_code("warehouse")
    staging = code_versions.closure(["ai_roi.lib.staging"])
    assert ROOT / "dbt" / "macros" / "staging" / "order_lines.sql" in staging
    # read from another root, the paths are that root's
    import shutil

    shutil.copytree(ROOT / "ai_roi", tmp_path / "ai_roi")
    (tmp_path / "dbt" / "macros" / "staging").mkdir(parents=True)
    macro = tmp_path / "dbt" / "macros" / "staging" / "orders.sql"
    macro.write_text("{# a macro #}", encoding="utf-8")
    moved = code_versions.closure(["ai_roi.lib.staging"], tmp_path)
    assert macro in moved


def test_a_missing_dependency_is_reported():
    dvc = copy.deepcopy(_dvc())
    dvc["stages"]["router"]["deps"].remove("ai_roi/params.py")
    assert dvc_deps.missing(dvc) == {"router": ["ai_roi/params.py"]}


def test_deriving_the_deps_lists_each_once_and_changes_nothing_the_second_time():
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    once = dvc_deps.derive(text)
    for stage, spec in yaml.safe_load(once)["stages"].items():
        deps = spec.get("deps", [])
        assert len(deps) == len(set(deps)), (stage, [d for d in deps if deps.count(d) > 1])
    assert dvc_deps.derive(once) == once
