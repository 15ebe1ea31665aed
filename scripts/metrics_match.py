"""`make ci`: the metrics committed with the code are the ones the pipeline computes from the data.

DVC tracks metrics/*.json and the plot files (dvc.yaml); `dvc repro` writes them and they are
committed with dvc.lock. CI runs the whole pipeline on the embedded data anyway, so it compares
that run's files with the committed ones, byte for byte: a change that moves a figure without a
`make repro` and a commit fails here, naming the file and the first lines that differ.

    python -m scripts.metrics_match <output dir of the run>
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def tracked(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[str]:
    """The metrics and plot files of every stage, as dvc.yaml names them."""
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    names = []
    for stage in stages.values():
        for entry in (*stage.get("metrics", []), *stage.get("plots", [])):
            names.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return sorted(names)


def differences(computed_root: Path, names: list[str], committed_root: Path = ROOT) -> list[str]:
    """One message per file of `names` the run did not write, or wrote otherwise than committed."""
    problems = []
    for name in names:
        committed, computed = committed_root / name, computed_root / name
        if not computed.is_file():
            problems.append(f"{name}: the run wrote no such file")
            continue
        if committed.read_bytes() == computed.read_bytes():
            continue
        diff = difflib.unified_diff(
            committed.read_text(encoding="utf-8").splitlines(),
            computed.read_text(encoding="utf-8").splitlines(),
            f"committed {name}",
            f"computed {name}",
            n=0,
            lineterm="",
        )
        problems.append("\n".join(list(diff)[:12]))
    return problems


def main(argv: list[str]) -> int:
    names = tracked()
    problems = differences(Path(argv[0]), names)
    if not problems:
        print(f"metrics: {len(names)} tracked files match what the pipeline computed")
        return 0
    print("The committed metrics are not what the pipeline computes on this code and data:")
    print("\n".join(problems))
    print("Run `make repro` and commit dvc.lock and metrics/ with the change.")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
