"""The numpy MiniLM encoder: unit vectors that put paraphrases close, independent of batching."""

from __future__ import annotations

import numpy as np

from ai_roi.ml import embeddings

CARD_LATE = "My card has not arrived yet."
CARD_LATE_TOO = "I still haven't received my new card."
EXCHANGE = "What exchange rate do you use for euros?"


def test_embeddings_are_unit_vectors_of_the_model_size():
    vectors = embeddings.encode([CARD_LATE, EXCHANGE])
    assert vectors.shape == (2, embeddings.DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_questions():
    late, late_too, exchange = embeddings.encode([CARD_LATE, CARD_LATE_TOO, EXCHANGE])
    assert late @ late_too > 0.6
    assert late @ exchange < 0.4


def test_padding_and_batch_neighbours_do_not_change_a_text_embedding():
    long_text = "Could you tell me why the transfer I made to my friend last Tuesday still shows as pending?"
    alone = embeddings.encode([CARD_LATE])[0]
    with_long_neighbour = embeddings.encode([long_text, CARD_LATE], batch_size=2)[1]
    assert np.allclose(alone, with_long_neighbour, atol=1e-5)


def test_cache_key_depends_on_model_and_exact_text():
    assert embeddings.text_key("a") == embeddings.text_key("a")
    assert embeddings.text_key("a") != embeddings.text_key("a ")


def test_batches_on_worker_processes_give_the_embeddings_of_one_process():
    """Every bit: the router's threshold and the figures it publishes are computed from these."""
    import pandas as pd

    from tests.conftest import FIXTURES

    texts = pd.read_csv(FIXTURES / "messages_train.csv.gz")["text"].tolist()[:300]
    one = embeddings.encode(texts, batch_size=32, workers=1)
    two = embeddings.encode(texts, batch_size=32, workers=2)
    assert np.array_equal(one, two)
