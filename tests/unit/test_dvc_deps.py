"""dvc.yaml lists every module each stage's assets import, so `dvc repro` never skips a stage."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

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


# lib.dbt_sql's ways to render a dbt macro: (function, position of the macro's name)
RENDERERS = {"render": 1, "render_json": 1, "template": None}


def rendered_macros(source: str) -> set[str]:
    """The dbt macros a module renders by a name written in it (`template` renders
    `sql_templates`)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None)
        if name not in RENDERERS:
            continue
        if RENDERERS[name] is None:
            found.add("sql_templates")
        elif len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            found.add(node.args[1].value)
    return found


def macro_files() -> dict[str, Path]:
    """Each macro of the dbt project's macros folder and the file it is written in."""
    return {
        name: path.relative_to(ROOT)
        for path in (ROOT / "dbt" / "macros").rglob("*.sql")
        for name in re.findall(r"{%-?\s*macro\s+(\w+)\s*\(", path.read_text(encoding="utf-8"))
    }


def undeclared_macros(module: Path, files: dict[str, Path]) -> list[str]:
    """The macros `module` renders whose file its CODE_PATHS does not name (itself or a folder
    above it), each with that file."""
    from ai_roi.lib import code_versions

    declared = {p.relative_to(ROOT) for p in code_versions.declared_paths(module, ROOT)}
    missing = []
    for macro in sorted(rendered_macros(module.read_text(encoding="utf-8"))):
        home = files.get(macro)
        assert home is not None, f"{module}: renders {macro}, which no macro file defines"
        if not any(home == d or d in home.parents for d in declared):
            missing.append(f"{macro} ({home})")
    return missing


def test_a_module_that_renders_a_dbt_macro_names_its_file_as_code():
    """Its code version and its DVC stage follow the macro: editing the SQL a module runs marks
    its assets stale and re-runs its stage."""
    files = macro_files()
    renderer = ROOT / "ai_roi" / "lib" / "dbt_sql.py"  # renders what its callers name
    missing = [
        f"{module.relative_to(ROOT)}: {found}"
        for module in sorted(set((ROOT / "ai_roi").rglob("*.py")) - {renderer})
        for found in undeclared_macros(module, files)
    ]
    assert not missing, "CODE_PATHS lacks the file of a macro the module renders:\n" + "\n".join(
        missing
    )


def test_the_rendering_scan_sees_a_macro_a_module_renders(tmp_path):
    source = 'from ai_roi.lib.dbt_sql import render, template\nrender(e, "ml_human_queue")\n'
    source += 'template(e, "hash_part").format(key="k", parts=2)\nrender(e, name)\n'
    assert rendered_macros(source) == {"ml_human_queue", "sql_templates"}
    assert macro_files()["ml_human_queue"] == Path("dbt/macros/ml.sql")

    # a module rendering ml.sql's macro that names only the staging folder is reported
    module = tmp_path / "module.py"
    module.write_text('CODE_PATHS = ("dbt/macros/staging",)\n' + source, encoding="utf-8")
    assert undeclared_macros(module, macro_files()) == [
        "ml_human_queue (dbt/macros/ml.sql)",
        "sql_templates (dbt/macros/cross_engine.sql)",
    ]
    # named, by its file or a folder above it (a second file: declared paths are read once)
    named = tmp_path / "named.py"
    named.write_text(
        'CODE_PATHS = ("dbt/macros/ml.sql", "dbt/macros")\n' + source, encoding="utf-8"
    )
    assert undeclared_macros(named, macro_files()) == []
