"""Layers import downward only: `definitions.py` composes, `defs/` declares, and `lib/`, `ml/`,
`roi/`, `reports/` and the shared modules beside them (settings, params, sources, resources) never
import `defs/` or `definitions.py`, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "ai_roi"
UPPER = ("ai_roi.defs", "ai_roi.definitions")
# the entry points that compose or run the definitions; everything else is a lower layer
COMPOSERS = {"definitions.py", "cli.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every dotted name an import statement may bind, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The names of `defs/` or `definitions.py` that `source` (the text of `module`) imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        for name in imported(node, module, is_package):
            if any(name == upper or name.startswith(upper + ".") for upper in UPPER):
                found.append(f"line {node.lineno}: {name}")
    return found


def lower_layer_files() -> list[Path]:
    top = [p for p in PACKAGE.glob("*.py") if p.name not in COMPOSERS]
    nested = [
        p for layer in ("lib", "ml", "roi", "reports") for p in (PACKAGE / layer).rglob("*.py")
    ]
    return sorted(top + nested)


def test_lower_layers_never_import_defs_or_the_definitions():
    files = lower_layer_files()
    assert {p.parent.name for p in files} >= {"lib", "ml", "roi", "reports", "ai_roi"}
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (
            found := upward_imports(
                path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
            )
        )
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "from ai_roi.defs.resources import WarehouseResource",
        "import ai_roi.definitions",
        "from ai_roi import defs",
        "from ai_roi import definitions as d",
        "from ..defs.orders import schemas",
        "def later():\n    from ai_roi.defs.marts.project import dbt_resource\n",
    ],
)
def test_the_layer_check_fires_on_an_upward_import(source):
    assert upward_imports(source, "ai_roi.lib.checks")


@pytest.mark.parametrize(
    "source",
    [
        "from ai_roi.lib import rules",
        "from ai_roi import settings",
        "from .rules import Rule",
        "import ai_roi.definitions_helpers",  # a name that only starts alike
    ],
)
def test_the_layer_check_lets_downward_imports_pass(source):
    assert upward_imports(source, "ai_roi.lib.checks") == []
