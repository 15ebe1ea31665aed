"""The support-request intent router: text -> intent, confidence, and route (auto or human).

Model selection and the confidence threshold use only the training split (cross-validation);
the test split is touched once, to evaluate.

Training is one cross-fitted pass (`CrossFitCalibratedSVC`): the features are computed once, K
linear SVMs give every training message an out-of-fold score, those scores fit the probability
calibration and choose the confidence threshold, and one more SVM on every message is the model:
K + 1 fits, where calibrating inside each fold of a separate threshold cross-validation took
K x (calibration folds) + calibration folds, each vectorising the texts again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import _SigmoidCalibration
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from dagster_project.params import RouterParams

TEXT = "text"
EMBEDDING_PREFIX = "emb_"
# what skops (MLflow's safe format) must be told to expect in a logged router
CALIBRATION_TYPES = [
    "dagster_project.ml.router.CrossFitCalibratedSVC",
    "sklearn.calibration._SigmoidCalibration",
]
AUTO, HUMAN = "auto", "human"


def embedding_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(EMBEDDING_PREFIX)]


def model_inputs(frame: pd.DataFrame, params: RouterParams) -> pd.DataFrame:
    """The columns the router reads: the text, and its sentence embedding unless switched off."""
    columns = [TEXT] + (embedding_columns(frame) if params.embedding_weight > 0 else [])
    return frame[columns]


class CrossFitCalibratedSVC(ClassifierMixin, BaseEstimator):
    """A linear SVM with Platt-calibrated probabilities, calibrated on out-of-fold scores.

    `fit` trains `folds` SVMs, each scoring the messages it did not see; a sigmoid per class is
    fitted on those out-of-fold scores (as `CalibratedClassifierCV(ensemble=False)` does), and
    the model is one SVM trained on every message. `oof_proba_` keeps the calibrated out-of-fold
    probabilities of the training messages: the confidence threshold is chosen on them, so no
    second cross-validation is needed. The features reaching it are fitted on the whole training
    split (the texts are vectorised once), so an out-of-fold score has seen the held-out
    message's n-grams in the vocabulary, though not in its weights.
    """

    def __init__(self, C: float = 1.0, folds: int = 5, random_state: int | None = None):
        self.C = C
        self.folds = folds
        self.random_state = random_state

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, random_state=self.random_state)

    @staticmethod
    def _scores(svm: LinearSVC, X) -> np.ndarray:
        scores = svm.decision_function(X)
        return scores[:, None] if scores.ndim == 1 else scores

    def _calibrated(self, scores: np.ndarray) -> np.ndarray:
        columns = [c.predict(scores[:, i]) for i, c in enumerate(self.calibrators_)]
        if len(self.classes_) == 2:  # one score, towards the second class
            return np.column_stack([1 - columns[0], columns[0]])
        proba = np.column_stack(columns)
        total = proba.sum(axis=1, keepdims=True)
        # as sklearn does: a row that every sigmoid puts at 0 gets equal probabilities
        return np.divide(proba, total, out=np.full_like(proba, 1 / proba.shape[1]), where=total > 0)

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        binary = len(self.classes_) == 2
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        scores = np.zeros((len(y), 1 if binary else len(self.classes_)))
        for fit_rows, score_rows in folds.split(np.zeros(len(y)), y):
            svm = self._svm().fit(X[fit_rows], y[fit_rows])
            scores[score_rows] = self._scores(svm, X[score_rows])
        positives = self.classes_[1:] if binary else self.classes_
        self.calibrators_ = [
            _SigmoidCalibration().fit(scores[:, i], (y == c).astype(float))
            for i, c in enumerate(positives)
        ]
        self.oof_proba_ = self._calibrated(scores)
        self.estimator_ = self._svm().fit(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self._calibrated(self._scores(self.estimator_, X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


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
    classifier = CrossFitCalibratedSVC(C=params.C, folds=params.cv_folds, random_state=seed)
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


def threshold_from(proba: np.ndarray, classes: np.ndarray, labels, target: float) -> Threshold:
    """Threshold reaching `target` precision on out-of-fold probabilities of the training split."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == np.asarray(labels)
    value = threshold_for_precision(precision_coverage_curve(confidence, correct), target)
    auto = confidence >= value
    return Threshold(
        value=value,
        cv_precision=float(correct[auto].mean()) if auto.any() else 0.0,
        cv_coverage=float(auto.mean()),
    )


def train(
    inputs: pd.DataFrame, labels: pd.Series, params: RouterParams, seed: int
) -> tuple[Pipeline, Threshold]:
    """The router fitted on the training split, and its threshold from the same cross-fitting."""
    model = build_pipeline(params, seed, embedding_columns(inputs)).fit(inputs, labels)
    classifier = model.named_steps["classifier"]
    threshold = threshold_from(
        classifier.oof_proba_, classifier.classes_, labels, params.target_precision
    )
    return model, threshold


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
    coef = classifier.estimator_.coef_
    if len(classifier.classes_) == 2:  # one row of weights, towards the second class
        coef = np.vstack([-coef[0], coef[0]])
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
