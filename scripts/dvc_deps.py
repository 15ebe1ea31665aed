"""The code each DVC stage depends on, derived from what its assets import.

A stage runs `ai-roi run --select <groups>`; what it computes is decided by the modules that
declare those groups' assets and by everything they import, transitively, inside the package
(`definitions.py` only composes, so its own imports are not followed). Those files, plus the
SQL and dbt files the stage runs, are the stage's code dependencies in `dvc.yaml`.

    python -m scripts.dvc_deps           # print each stage's code dependencies
    python -m scripts.dvc_deps --write   # rewrite them in dvc.yaml (other deps are kept)
    python -m scripts.dvc_deps --check   # exit 1 when dvc.yaml misses one (make lint, tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ai_roi.lib.code_versions import closure, data_folders_of, declared_paths_of

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ai_roi"

# The dbt project the dbt assets build (the macros the staging renders are also its code).
SQL_AND_DBT = [
    "dbt/models",
    "dbt/macros",
    "dbt/tests",
    "dbt/dbt_project.yml",
]
# Per stage: the modules declaring its assets, and the non-Python code it runs.
STAGES: dict[str, dict[str, list[str]]] = {
    "warehouse": {
        "modules": [
            "ai_roi.defs.sources",
            "ai_roi.defs.tickets.assets",
            "ai_roi.defs.tickets.checks",
            "ai_roi.defs.marts.assets",
            "ai_roi.defs.marts.checks",
            "ai_roi.defs.features.assets",
            "ai_roi.defs.features.checks",
        ],
        "files": SQL_AND_DBT,
    },
    "router": {
        "modules": ["ai_roi.defs.router.assets", "ai_roi.defs.router.checks"],
        # the catalogue names the labels that always go to a person and those of no intent
        "files": ["config/sources.yaml"],
    },
    "forecaster": {
        "modules": ["ai_roi.defs.forecast.assets", "ai_roi.defs.forecast.checks"],
        "files": [],
    },
    "roi": {
        "modules": [
            "ai_roi.defs.roi.assets",
            "ai_roi.defs.governance.assets",
            "ai_roi.defs.governance.checks",
            "ai_roi.defs.quality.assets",
            "ai_roi.defs.marts.assets",
            "ai_roi.defs.marts.checks",
        ],
        "files": SQL_AND_DBT,
    },
}
# Every stage runs through these: the command line and the composition of the definitions.
ENTRY_FILES = ["ai_roi/cli.py", "ai_roi/definitions.py"]


def stage_code(stage: str) -> list[str]:
    spec = STAGES[stage]
    found = closure(spec["modules"])
    files = {str(p.relative_to(ROOT)) for p in found}
    # a package's data folder (SQL, templates, messages) is listed as the folder
    folders = {str(folder.relative_to(ROOT)) for folder in data_folders_of(found)}
    # and what a module names as its code outside the package (CODE_PATHS)
    folders |= {str(path.relative_to(ROOT)) for path in declared_paths_of(found, ROOT)}
    covered = [f for f in [*spec["files"], *folders] if (ROOT / f).is_dir()]
    files = {f for f in files if not any(f.startswith(d + "/") for d in covered)}
    folders = {f for f in folders if not any(f.startswith(d + "/") for d in covered)}
    return sorted(files | folders | set(spec["files"]) | set(ENTRY_FILES))


def _is_code(dep: str) -> bool:
    return dep.startswith((f"{PACKAGE}/", "dbt/"))


def missing(dvc: dict) -> dict[str, list[str]]:
    """Per stage, code its assets import that dvc.yaml does not list (directly or by a folder)."""
    out = {}
    for stage in STAGES:
        listed = dvc["stages"][stage]["deps"]
        gaps = [
            f
            for f in stage_code(stage)
            if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in listed)
        ]
        if gaps:
            out[stage] = gaps
    return out


def main(argv: list[str]) -> int:
    path = ROOT / "dvc.yaml"
    dvc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "--check" in argv:
        gaps = missing(dvc)
        for stage, files in gaps.items():
            print(f"dvc.yaml stage {stage} misses code it imports: {', '.join(files)}")
        if gaps:
            print("Run `python -m scripts.dvc_deps --write` to derive them.")
        return 1 if gaps else 0
    if "--write" in argv:
        path.write_text(derive(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    for stage in STAGES:
        print(f"{stage}:")
        for f in stage_code(stage):
            print(f"  {f}")
    return 0


def derive(text: str) -> str:
    """dvc.yaml's `text` with each stage's code deps derived from its imports, data deps kept."""
    dvc = yaml.safe_load(text)
    for stage in STAGES:
        old = dvc["stages"][stage]["deps"]
        # a data dep a stage's spec names too (config/sources.yaml) is listed once
        new = dict.fromkeys([d for d in old if not _is_code(d)] + stage_code(stage))
        text = _replace_deps(text, stage, list(new))
    return text


def _replace_deps(text: str, stage: str, deps: list[str]) -> str:
    """`text` with the deps list of `stage` replaced, comments and layout elsewhere kept."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() == f"  {stage}:")
    head = next(i for i in range(start, len(lines)) if lines[i].strip() == "deps:")
    end = head + 1
    while end < len(lines) and lines[end].startswith("      - "):
        end += 1
    return "".join(lines[: head + 1] + [f"      - {d}\n" for d in deps] + lines[end:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
