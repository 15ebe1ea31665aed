"""Keep the newest few of what every run leaves behind, delete the rest."""

from __future__ import annotations

import shutil
from pathlib import Path


def keep_newest(folder: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the `keep` newest subfolders of `folder` named `prefix*`; the deleted ones.

    Newest by modification time, then name, so the folder just written is always kept.
    """
    if not folder.is_dir():
        return []
    found = sorted(
        (p for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix)),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    removed = found[keep:]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
