"""The support-request intent router: text -> intent, confidence, and route (auto or human).

Model selection and the confidence threshold use only the training split (cross-validation);
the test split is touched once, to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from dagster_project.params import RouterParams

TEXT = "text"
EMBEDDING_PREFIX = "emb_"
CALIBRATION_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]
AUTO, HUMAN = "auto", "human"


def embedding_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(EMBEDDING_PREFIX)]


def model_inputs(frame: pd.DataFrame, params: RouterParams) -> pd.DataFrame:
    """The columns the router reads: the text, and its sentence embedding unless switched off."""
    columns = [TEXT] + (embedding_columns(frame) if params.embedding_weight > 0 else [])
    return frame[columns]


def build_pipeline(params: RouterParams, seed: int, embedding_cols: list[str] = ()) -> Pipeline:
    """Word and character TF-IDF, plus the sentence embedding when given, into a calibrated linear SVM."""
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=params.char_ngrams, sublinear_tf=True, min_df=2
    )
    parts = [
        ("word", TfidfVectorizer(ngram_range=params.word_ngrams, sublinear_tf=True), TEXT),
        ("char", char, TEXT),
    ]
    weights = None
    if embedding_cols:
        parts.append(("embedding", "passthrough", list(embedding_cols)))
        weights = {"word": 1.0, "char": 1.0, "embedding": params.embedding_weight}
    classifier = CalibratedClassifierCV(
        LinearSVC(C=params.C, random_state=seed), cv=params.calibration_folds
    )
    return Pipeline(
        [
            ("features", ColumnTransformer(parts, transformer_weights=weights)),
            ("classifier", classifier),
        ]
    )


def precision_coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """For each confidence threshold: precision and coverage of the messages at or above it."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order]
    precision = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    coverage = np.arange(1, len(ok) + 1) / len(ok)
    curve = pd.DataFrame({"threshold": conf, "precision": precision, "coverage": coverage})
    # one row per distinct threshold: the last (widest) row of each run of equal confidence
    return curve.drop_duplicates("threshold", keep="last").reset_index(drop=True)


def threshold_for_precision(curve: pd.DataFrame, target: float) -> float:
    """Lowest threshold whose auto route still reaches `target` precision; above 1 if none does."""
    reaching = curve[curve["precision"] >= target]
    return float(reaching["threshold"].min()) if len(reaching) else 1.0 + 1e-9


@dataclass(frozen=True)
class Threshold:
    value: float
    cv_precision: float
    cv_coverage: float


def choose_threshold(
    inputs: pd.DataFrame, labels: pd.Series, params: RouterParams, seed: int
) -> Threshold:
    """Threshold reaching the target precision on out-of-fold predictions of the training split."""
    folds = StratifiedKFold(params.threshold_folds, shuffle=True, random_state=seed)
    pipeline = build_pipeline(params, seed, embedding_columns(inputs))
    proba = cross_val_predict(pipeline, inputs, labels, cv=folds, method="predict_proba")
    classes = np.array(sorted(labels.unique()))
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == labels.to_numpy()
    curve = precision_coverage_curve(confidence, correct)
    value = threshold_for_precision(curve, params.target_precision)
    auto = confidence >= value
    return Threshold(
        value=value,
        cv_precision=float(correct[auto].mean()) if auto.any() else 0.0,
        cv_coverage=float(auto.mean()),
    )


def predict(model: Pipeline, inputs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    proba = model.predict_proba(inputs)
    confidence = proba.max(axis=1)
    return pd.DataFrame(
        {
            "predicted_intent": model.classes_[proba.argmax(axis=1)],
            "confidence": confidence,
            "route": np.where(confidence >= threshold, AUTO, HUMAN),
        },
        index=inputs.index,
    )


def evaluate(
    model: Pipeline, inputs: pd.DataFrame, labels: pd.Series, threshold: float
) -> tuple[dict, pd.DataFrame, dict]:
    """Headline metrics, the precision/coverage curve, and F1 per intent on a held-out split."""
    routed = predict(model, inputs, threshold)
    correct = (routed["predicted_intent"] == labels).to_numpy()
    auto = (routed["route"] == AUTO).to_numpy()
    metrics = {
        "accuracy": float(accuracy_score(labels, routed["predicted_intent"])),
        "macro_f1": float(f1_score(labels, routed["predicted_intent"], average="macro")),
        "auto_precision": float(correct[auto].mean()) if auto.any() else 0.0,
        "automation_rate": float(auto.mean()),
        "human_queue_rate": float(1 - auto.mean()),
    }
    intents = sorted(labels.unique())
    per_intent = f1_score(labels, routed["predicted_intent"], labels=intents, average=None)
    curve = precision_coverage_curve(routed["confidence"].to_numpy(), correct)
    return metrics, curve, dict(zip(intents, map(float, per_intent), strict=True))


def explain(model: Pipeline, inputs: pd.DataFrame, predicted: pd.Series, top: int) -> list[str]:
    """The words that pushed each message most towards its predicted intent."""
    features = model.named_steps["features"]
    matrix = sp.csr_matrix(features.transform(inputs))
    names = features.get_feature_names_out()
    word = np.char.startswith(names.astype(str), "word__")
    classifier = model.named_steps["classifier"]
    coef = np.mean([c.estimator.coef_ for c in classifier.calibrated_classifiers_], axis=0)
    class_index = {c: i for i, c in enumerate(classifier.classes_)}
    explanations = []
    for row, intent in enumerate(predicted):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        cols, values = matrix.indices[start:end], matrix.data[start:end]
        keep = word[cols]
        cols, values = cols[keep], values[keep]
        contribution = values * coef[class_index[intent], cols]
        order = np.argsort(-contribution, kind="stable")[:top]
        terms = [names[cols[i]].removeprefix("word__") for i in order if contribution[i] > 0]
        explanations.append(", ".join(terms))
    return explanations
