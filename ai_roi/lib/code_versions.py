"""Code versions: what each asset's result depends on in this package's code, as a hash.

An asset's code is the module that declares it and every package module that module imports,
transitively (the same closure `scripts/dvc_deps.py` lists as a DVC stage's code), plus the data
of every package on the way: the files beside its modules (a source's `source.yaml`) and the
folders holding no module, such as the reports' templates and message catalogues; and what a
module names as its code outside the package in `CODE_PATHS` (the dbt macros whose SQL it
renders through lib/dbt_sql.py: the staged layer's, the warehouse's own tables').
`definitions.py` gives every asset that has none (dbt's models carry their own; the source
factory versions each source by its declaration) the version of its module, so the Dagster UI
marks an asset whose code changed since its last materialisation as stale, and the models'
training keys hash the code as it was when the code location loaded, not as the file reads
later (an edit during a run belongs to the next run).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ai_roi import settings

PACKAGE = "ai_roi"


def module_file(module: str, root: Path | None = None) -> Path | None:
    base = (root or settings.PROJECT_ROOT) / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@cache
def imports(path: Path, module: str, root: Path | None = None) -> frozenset[str]:
    """Package modules `path` imports, absolute or relative, at any depth of the file (each file
    parsed once a process, as `file_digest` reads it once)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return frozenset(
        m for m in found if m.split(".")[0] == PACKAGE and module_file(m, root) is not None
    )


@cache
def data_files(package: Path) -> tuple[Path, ...]:
    """The files of a package directory that are no module (a source's `source.yaml`): the
    package's code as much as its modules are."""
    return tuple(
        sorted(p for p in package.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc"))
    )


@cache
def data_folders(package: Path) -> tuple[Path, ...]:
    """The folders of a package directory that hold no module (SQL, templates, messages): the
    package's code as much as its modules are (read once a process, as `file_digest` reads)."""
    return tuple(
        sorted(
            p
            for p in package.iterdir()
            if p.is_dir() and p.name != "__pycache__" and not (p / "__init__.py").exists()
        )
    )


def data_folders_of(files: Iterable[Path]) -> set[Path]:
    """The data folders of the packages among `files` (a package is there by its __init__.py)."""
    return {
        folder
        for init in files
        if init.name == "__init__.py"
        for folder in data_folders(init.parent)
    }


# A module whose code reads files outside the package names them, relative to the project root,
# in a module-level tuple of this name, e.g. CODE_PATHS = ("dbt/macros",)
CODE_PATHS = "CODE_PATHS"


@cache
def declared_paths(path: Path, root: Path) -> frozenset[Path]:
    """The paths a module file names in its `CODE_PATHS` (read from its text, not imported)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == CODE_PATHS for t in node.targets)
            and isinstance(node.value, ast.Tuple | ast.List)
        ):
            return frozenset(root / ast.literal_eval(e) for e in node.value.elts)
    return frozenset()


def declared_paths_of(files: Iterable[Path], root: Path | None = None) -> set[Path]:
    """The paths outside the package that the modules among `files` name as their code."""
    base = root or settings.PROJECT_ROOT
    return {p for f in files if f.suffix == ".py" for p in declared_paths(f, base)}


@cache
def _folder_files(folder: Path) -> frozenset[Path]:
    return frozenset(f for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def closure(modules: list[str], root: Path | None = None) -> set[Path]:
    """Files of `modules` and of every package module they import, with their packages' inits
    and the packages' data: the files beside their modules and their data folders.

    `definitions.py` only composes: its imports are not followed.
    """
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen or module == f"{PACKAGE}.definitions":
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        todo += sorted(imports(module_file(module, root), module, root))
    files = {module_file(m, root) for m in seen}
    packages = [init.parent for init in files if init.name == "__init__.py"]
    declared = declared_paths_of(files, root)
    return files.union(
        *(data_files(package) for package in packages),
        *(_folder_files(folder) for folder in data_folders_of(files)),
        *(_folder_files(p) if p.is_dir() else {p} for p in declared),
    )


@cache
def file_digest(path: Path) -> str:
    """sha256 of a file as this process first read it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def code_version(*modules: str) -> str:
    """The code version of the assets `modules` declare together: 16 hex digits."""
    root = settings.PROJECT_ROOT
    files = closure(list(modules), root)
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + file_digest(path).encode())
    return digest.hexdigest()[:16]
