"""The product reads its YAML with libyaml's parser where PyYAML has it (ai_roi/yaml_text.py):
every file it reads must give exactly what PyYAML's own safe parser gives, and a broken one must
still raise YAMLError, which the catalogue and params.yaml turn into their own errors."""

from __future__ import annotations

import pytest
import yaml

from ai_roi import yaml_text
from tests.conftest import ROOT

READ = [
    ROOT / "params.yaml",
    ROOT / "config" / "sources.yaml",
    ROOT / "dbt" / "profiles.yml",
    ROOT / "dvc.lock",
    *sorted((ROOT / "ai_roi" / "defs").glob("*/source.yaml")),
    *sorted((ROOT / "ai_roi" / "reports" / "messages").glob("*.yaml")),
]


@pytest.mark.parametrize("path", READ, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_file_reads_as_pyyaml_reads_it(path):
    text = path.read_text(encoding="utf-8")
    assert yaml_text.load(text) == yaml.safe_load(text)


def test_the_locked_pyyaml_parses_with_libyaml():
    """The locked PyYAML wheel carries libyaml, and the product's reader uses it: the speed the
    module promises is there."""
    assert yaml.__with_libyaml__
    assert yaml_text._LOADER is yaml.CSafeLoader


@pytest.mark.parametrize(
    "text", ["sources: [unclosed", "a: 1\n b: 2", "!!python/object:os.system x"]
)
def test_a_broken_or_unsafe_document_raises_yaml_error(text):
    with pytest.raises(yaml.YAMLError):
        yaml_text.load(text)
