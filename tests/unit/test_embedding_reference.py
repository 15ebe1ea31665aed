"""The numpy MiniLM encoder gives the vectors sentence-transformers gives, to 1e-4.

tests/fixtures/minilm_reference.json was computed once with the reference implementation
(sentence-transformers on torch, in a throw-away environment; scripts/make_embedding_reference.py)
from the same weights the project ships. A wrong layer-norm epsilon, activation, pooling or
normalisation moves the vectors past the tolerance.
"""

from __future__ import annotations

import json

import numpy as np

from ai_roi.ml import embeddings
from tests.conftest import FIXTURES

REFERENCE = json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8"))


def test_vectors_match_the_reference_implementation():
    ours = embeddings.encode(REFERENCE["texts"])
    reference = np.array(REFERENCE["vectors"], dtype=np.float32)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-4


def test_the_comparison_catches_a_wrong_layer_norm_epsilon(monkeypatch):
    config, weights, tokenizer = embeddings._model()
    wrong = {**config, "layer_norm_eps": 1e-1}
    monkeypatch.setattr(embeddings, "_model", lambda: (wrong, weights, tokenizer))
    ours = embeddings.encode(REFERENCE["texts"])
    assert np.abs(ours - np.array(REFERENCE["vectors"])).max() > 1e-4
