"""`dagster dev` parses the dbt project again in every process that loads the definitions (its
code server, each run it launches). Other processes read the same target/manifest.json at that
moment (the PII scan's business keys, the ROI assets, `make run` beside `make dev`): they must
never find half a manifest."""

from __future__ import annotations

import json
import shutil
import threading

from dagster_dbt import DbtProject

from ai_roi.defs.marts.project import ManifestPreparer
from tests.conftest import ROOT


def _torn_reads_while_parsing(tmp_path, preparer) -> tuple[int, int]:
    """Read the manifest as fast as possible while `preparer` parses the project again in
    another thread (dbt itself runs in a child process): (reads, reads that were not JSON)."""
    project_dir = tmp_path / "dbt"
    shutil.copytree(ROOT / "dbt", project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    preparer.prepare(project)  # a manifest to start from
    manifest = project.manifest_path
    done = threading.Event()

    def parse_again():
        try:
            # a changed model: dbt parses it again and writes the whole manifest
            model = project_dir / "models" / "marts" / "core" / "_core__models.yml"
            model.write_text(model.read_text() + "\n# edited\n", encoding="utf-8")
            preparer.prepare(project)
        finally:
            done.set()

    writer = threading.Thread(target=parse_again)
    writer.start()
    reads = torn = 0
    while not done.is_set():
        try:
            text = manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            torn += 1
            continue
        reads += 1
        # cheaper than parsing it, so the reader looks often: a whole manifest is one JSON object
        if not (text.startswith("{") and text.rstrip().endswith("}")):
            torn += 1
    writer.join()
    assert json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    return reads, torn


def test_a_reader_never_sees_half_a_manifest_while_dagster_dev_parses(tmp_path):
    reads, torn = _torn_reads_while_parsing(tmp_path, ManifestPreparer())
    assert reads > 20  # the reader did read while dbt parsed
    assert torn == 0, f"{torn} of {reads} reads found a manifest being written"
