"""Fingerprints of the folders that hold a user's own runs, so the suite can prove it left them alone."""

from __future__ import annotations

from pathlib import Path

from ai_roi.settings import USER_STATE_FOLDERS


def fingerprint(root: Path, folders: tuple[str, ...] = USER_STATE_FOLDERS) -> dict[str, tuple]:
    """Per path below `root/<folder>`: a folder's mode; a file's mode, size and modification time.

    A folder's own modification time is left out: it moves whenever something below it is added
    or removed, which shows up as that path.
    """
    prints: dict[str, tuple] = {}
    for folder in folders:
        top = root / folder
        if not top.exists():
            continue
        for path in [top, *top.rglob("*")]:
            stat = path.lstat()
            key = str(path.relative_to(root))
            if path.is_dir() and not path.is_symlink():
                prints[key] = ("dir", stat.st_mode)
            else:
                prints[key] = ("file", stat.st_mode, stat.st_size, stat.st_mtime_ns)
    return prints


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What differs between two fingerprints: added, removed and changed paths."""
    out = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return out
