"""The support-request intent router: text -> intent, confidence, and route (auto or human).

Model selection and the confidence threshold use only the training split (cross-validation);
the test split is touched once, to evaluate.

Besides its intent, the router says whether a message is one of its intents at all. A
message is answered automatically only if it is in scope and confident; otherwise it goes to a
person with the reason (`unknown_intent`, `escalation_label` or `low_confidence`) and the
nearest intents as suggestions. The scope score needs no out-of-scope examples: for each
training message, its nearest training neighbours with its own intent removed are what a message
of an intent the router never learnt looks like (leave-intent-out), and its neighbours with only
itself removed are what a known intent looks like. A logistic combination of the neighbour
similarities, fitted on those two samples, is the score; its threshold sends `unknown_recall` of
the simulated unknown messages (or of labelled out-of-scope ones, when the label set has them) to
a person.

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
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import _SigmoidCalibration
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from ai_roi import settings
from ai_roi.params import RouterParams

TEXT = "text"
EMBEDDING_PREFIX = "emb_"
# what skops (MLflow's safe format) must be told to expect in a logged router
CALIBRATION_TYPES = [
    f"{__name__}.CrossFitCalibratedSVC",
    "sklearn.calibration._SigmoidCalibration",
]
AUTO, HUMAN = "auto", "human"
# why a message went to a person, most telling first
UNKNOWN_INTENT, ESCALATION_LABEL, LOW_CONFIDENCE = (
    "unknown_intent",
    "escalation_label",
    "low_confidence",
)
SUGGESTIONS = 3  # nearest intents offered to the person who answers


def _unit_rows(matrix) -> np.ndarray:
    dense = np.asarray(matrix.todense() if sp.issparse(matrix) else matrix, dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


def neighbour_similarities(
    queries: np.ndarray,
    index: np.ndarray,
    index_labels: np.ndarray,
    k: int,
    *,
    leave_out_self: bool = False,
    leave_out_labels: np.ndarray | None = None,
    chunk: int = 2048,
) -> np.ndarray:
    """Per query: cosine similarity to its nearest index row and the mean over its `k` nearest.

    `leave_out_self`: the queries are the index, and a row is not its own neighbour.
    `leave_out_labels`: per query, a label whose index rows are not its neighbours (the query's
    own intent: how the message would look to a router that never learnt that intent).
    """
    k = max(1, min(k, len(index) - 1 if leave_out_self else len(index)))
    out = np.empty((len(queries), 2), dtype=np.float64)
    for start in range(0, len(queries), chunk):
        rows = slice(start, start + chunk)
        sims = queries[rows] @ index.T
        if leave_out_self:
            sims[np.arange(sims.shape[0]), np.arange(start, start + sims.shape[0])] = -np.inf
        if leave_out_labels is not None:
            sims[leave_out_labels[rows][:, None] == index_labels[None, :]] = -np.inf
        top = np.sort(np.partition(sims, -k, axis=1)[:, -k:], axis=1)[:, ::-1]
        top = np.where(np.isfinite(top), top, -1.0)  # nothing left to compare with: least similar
        out[rows] = np.column_stack([top[:, 0], top.mean(axis=1)])
    return out


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

    def __init__(
        self,
        C: float = 1.0,
        folds: int = 5,
        random_state: int | None = None,
        unknown_recall: float = 0.0,
        scope_columns: int = 0,
        scope_neighbours: int = 5,
        unknown_labels: tuple[str, ...] = (),
    ):
        self.C = C
        self.folds = folds
        self.random_state = random_state
        # the scope: the share of unknown messages that must go to a person (0: no scope), the
        # trailing feature columns it compares (the sentence embedding; 0: every feature), how
        # many neighbours it averages, and labels that name out-of-scope messages (never an
        # intent: their messages fit the scope threshold)
        self.unknown_recall = unknown_recall
        self.scope_columns = scope_columns
        self.scope_neighbours = scope_neighbours
        self.unknown_labels = unknown_labels

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, random_state=self.random_state)

    @staticmethod
    def _scores(svm: LinearSVC, X) -> np.ndarray:
        scores = svm.decision_function(X)
        return scores[:, None] if scores.ndim == 1 else scores

    def _fit_rows(self, X, y, rows: np.ndarray) -> LinearSVC:
        return self._svm().fit(X[rows], y[rows])

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
        unknown = np.isin(y, list(self.unknown_labels))
        self.known_rows_ = ~unknown
        X_unknown = X[np.flatnonzero(unknown)]
        X, y = X[np.flatnonzero(~unknown)], y[~unknown]
        self.classes_ = np.unique(y)
        binary = len(self.classes_) == 2
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        splits = list(folds.split(np.zeros(len(y)), y))
        everything = np.arange(len(y))
        # the K fold SVMs and the final one are independent fits, run side by side in worker
        # processes: liblinear draws from the C library's one random generator, which it seeds
        # at the start of a fit, so two fits on threads of one process would disturb each other
        svms = Parallel(n_jobs=min(settings.ml_threads(), len(splits) + 1))(
            delayed(self._fit_rows)(X, y, rows) for rows in [*(f for f, _ in splits), everything]
        )
        scores = np.zeros((len(y), 1 if binary else len(self.classes_)))
        for svm, (_, score_rows) in zip(svms[:-1], splits, strict=True):
            scores[score_rows] = self._scores(svm, X[score_rows])
        positives = self.classes_[1:] if binary else self.classes_
        self.calibrators_ = [
            _SigmoidCalibration().fit(scores[:, i], (y == c).astype(float))
            for i, c in enumerate(positives)
        ]
        self.oof_proba_ = self._calibrated(scores)
        self.estimator_ = svms[-1]
        self._fit_scope(X, y, X_unknown)
        return self

    def _scope_block(self, X) -> np.ndarray:
        return _unit_rows(X[:, -self.scope_columns :] if self.scope_columns else X)

    def _fit_scope(self, X, y, X_unknown) -> None:
        """The scope score and threshold; `oof_in_scope_` says which training messages pass it."""
        self.oof_in_scope_ = np.ones(len(y), dtype=bool)
        self.scope_threshold_ = np.inf
        self.scope_model_ = None
        if not self.unknown_recall:
            return
        self.index_ = self._scope_block(X)
        self.index_labels_ = y
        k = self.scope_neighbours
        known = neighbour_similarities(self.index_, self.index_, y, k, leave_out_self=True)
        simulated = neighbour_similarities(self.index_, self.index_, y, k, leave_out_labels=y)
        labelled = (
            neighbour_similarities(self._scope_block(X_unknown), self.index_, y, k)
            if X_unknown.shape[0]
            else np.empty((0, 2))
        )
        unknowns = np.vstack([simulated, labelled])
        self.scope_model_ = LogisticRegression().fit(
            np.vstack([known, unknowns]), np.r_[np.zeros(len(known)), np.ones(len(unknowns))]
        )
        # labelled out-of-scope messages, when there are some, are the real thing
        reference = labelled if len(labelled) else simulated
        scores = self.scope_model_.predict_proba(reference)[:, 1]
        self.scope_threshold_ = float(np.quantile(scores, 1 - self.unknown_recall))
        self.oof_in_scope_ = self.is_in_scope(self.scope_model_.predict_proba(known)[:, 1])

    def unknown_score(self, X) -> np.ndarray:
        """How unlike any learnt intent each message is, 0 to 1; all 0 without a scope (a router
        trained before the scope existed has none either)."""
        check_is_fitted(self, "estimator_")
        if getattr(self, "scope_model_", None) is None:
            return np.zeros(X.shape[0])
        similarities = neighbour_similarities(
            self._scope_block(X), self.index_, self.index_labels_, self.scope_neighbours
        )
        return self.scope_model_.predict_proba(similarities)[:, 1]

    def is_in_scope(self, unknown_score: np.ndarray) -> np.ndarray:
        return unknown_score < getattr(self, "scope_threshold_", np.inf)

    def in_scope(self, X) -> np.ndarray:
        return self.is_in_scope(self.unknown_score(X))

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self._calibrated(self._scores(self.estimator_, X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def build_pipeline(
    params: RouterParams,
    seed: int,
    embedding_cols: list[str] = (),
    unknown_labels: tuple[str, ...] = (),
) -> Pipeline:
    """Word and character TF-IDF, plus the sentence embedding when given, into a calibrated linear SVM with a scope."""
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
    classifier = CrossFitCalibratedSVC(
        C=params.C,
        folds=params.cv_folds,
        random_state=seed,
        unknown_recall=params.scope.unknown_recall,
        # the embedding block is the last of the features: meaning, not spelling, decides scope
        scope_columns=len(embedding_cols),
        scope_neighbours=params.scope.neighbours,
        unknown_labels=tuple(unknown_labels),
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
    cv_in_scope: float = 1.0  # share of the known training messages the scope lets through


def threshold_from(
    proba: np.ndarray,
    classes: np.ndarray,
    labels,
    target: float,
    in_scope: np.ndarray | None = None,
) -> Threshold:
    """Threshold reaching `target` precision on out-of-fold probabilities of the training split.

    Only messages the scope lets through can be answered, so the threshold is chosen among
    them: automatic answers are those both in scope and at or above it.
    """
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == np.asarray(labels)
    in_scope = np.ones(len(correct), dtype=bool) if in_scope is None else in_scope
    value = (
        threshold_for_precision(
            precision_coverage_curve(confidence[in_scope], correct[in_scope]), target
        )
        if in_scope.any()
        else 1.0 + 1e-9
    )
    auto = in_scope & (confidence >= value)
    return Threshold(
        value=value,
        cv_precision=float(correct[auto].mean()) if auto.any() else 0.0,
        cv_coverage=float(auto.mean()),
        cv_in_scope=float(in_scope.mean()),
    )


def train(
    inputs: pd.DataFrame,
    labels: pd.Series,
    params: RouterParams,
    seed: int,
    unknown_labels: tuple[str, ...] = (),
) -> tuple[Pipeline, Threshold]:
    """The router fitted on the training split, and its threshold from the same cross-fitting.

    Messages labelled with one of `unknown_labels` are no intent: they fit the scope threshold.
    """
    known = ~np.isin(np.asarray(labels), list(unknown_labels))
    if len(np.unique(np.asarray(labels)[known])) < 2:
        raise ValueError(
            "the router needs at least two intents besides the out-of-scope labels "
            f"{sorted(unknown_labels)}; found {sorted(set(labels))}"
        )
    model = build_pipeline(params, seed, embedding_columns(inputs), unknown_labels)
    model.fit(inputs, labels)
    classifier = model.named_steps["classifier"]
    threshold = threshold_from(
        classifier.oof_proba_,
        classifier.classes_,
        np.asarray(labels)[known],
        params.target_precision,
        classifier.oof_in_scope_,
    )
    return model, threshold


def predict(
    model: Pipeline, inputs: pd.DataFrame, threshold: float, escalate: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Intent, confidence, scope score, route and, for a person, why and the nearest intents.

    A message is answered automatically only if it is in scope, its intent is not one that
    always goes to a person (`escalate`), and its confidence reaches `threshold`.
    """
    features = model[:-1].transform(inputs)
    classifier = model[-1]
    proba = classifier.predict_proba(features)
    unknown = classifier.unknown_score(features)
    in_scope = classifier.is_in_scope(unknown)
    ranked = np.argsort(-proba, axis=1, kind="stable")[:, :SUGGESTIONS]
    predicted = classifier.classes_[ranked[:, 0]]
    confidence = proba.max(axis=1)
    reason = np.select(
        [~in_scope, np.isin(predicted, list(escalate)), confidence < threshold],
        [UNKNOWN_INTENT, ESCALATION_LABEL, LOW_CONFIDENCE],
        default="",
    )
    return pd.DataFrame(
        {
            "predicted_intent": predicted,
            "confidence": confidence,
            "unknown_score": unknown,
            "route": np.where(reason == "", AUTO, HUMAN),
            "reason": pd.Series(reason).replace("", None).to_numpy(),
            "suggested_intents": [", ".join(classifier.classes_[r]) for r in ranked],
        },
        index=inputs.index,
    )


def routing_metrics(routed: pd.DataFrame, labels: pd.Series, out_of_scope: np.ndarray) -> dict:
    """What a routing did to messages of learnt intents and to messages of no learnt intent.

    `automation_rate` and `auto_precision` are over the in-scope messages (their intent was
    learnt): how much the router answers of what it should answer, and how well. An automatic
    answer to an out-of-scope message is always wrong, so `all_auto_precision` counts it.
    """
    labels = np.asarray(labels)
    predicted = routed["predicted_intent"].to_numpy()
    correct = predicted == labels
    auto = (routed["route"] == AUTO).to_numpy()
    known = ~out_of_scope
    known_auto = auto & known
    metrics = {
        "accuracy": float(correct[known].mean()) if known.any() else 0.0,
        "auto_precision": float(correct[known_auto].mean()) if known_auto.any() else 0.0,
        "automation_rate": float(auto[known].mean()) if known.any() else 0.0,
        "unknown_intent_rate": float(
            (routed["reason"].to_numpy()[known] == UNKNOWN_INTENT).mean() if known.any() else 0.0
        ),
        "human_queue_rate": float(1 - auto.mean()),
        "all_auto_precision": float((correct & known)[auto].mean()) if auto.any() else 0.0,
        "in_scope_share": float(known.mean()),
    }
    if out_of_scope.any():
        metrics["oos_recall"] = float((~auto[out_of_scope]).mean())
    return metrics


def evaluate(
    model: Pipeline,
    inputs: pd.DataFrame,
    labels: pd.Series,
    threshold: float,
    escalate: tuple[str, ...] = (),
    unknown_labels: tuple[str, ...] = (),
) -> tuple[dict, pd.DataFrame, dict]:
    """Headline metrics, the precision/coverage curve, and F1 per intent on a held-out split."""
    routed = predict(model, inputs, threshold, escalate)
    out_of_scope = np.isin(np.asarray(labels), list(unknown_labels))
    metrics = routing_metrics(routed, labels, out_of_scope)
    known = ~out_of_scope
    known_labels = labels[known]
    predicted = routed["predicted_intent"][known]
    metrics["macro_f1"] = float(f1_score(known_labels, predicted, average="macro"))
    # automation at each confidence threshold, among the messages the scope lets through
    passing = known & (routed["reason"] != UNKNOWN_INTENT).to_numpy()
    curve = precision_coverage_curve(
        routed["confidence"].to_numpy()[passing],
        (routed["predicted_intent"] == labels).to_numpy()[passing],
    )
    curve["coverage"] *= passing.sum() / max(known.sum(), 1)
    intents = sorted(known_labels.unique())
    per_intent = f1_score(known_labels, predicted, labels=intents, average=None)
    return metrics, curve, dict(zip(intents, map(float, per_intent), strict=True))


OPEN_SET_METRICS = ("oos_recall", "automation_rate", "auto_precision", "accuracy")


def open_set_evaluation(
    training: pd.DataFrame,
    test: pd.DataFrame,
    params: RouterParams,
    seed: int,
    escalate: tuple[str, ...] = (),
    unknown_labels: tuple[str, ...] = (),
) -> tuple[dict, pd.DataFrame]:
    """The router's recipe with a share of the intents never learnt, once per protocol seed.

    For each seed in `params.open_set.seeds`, `unseen_share` of the intents are drawn, the
    router is trained on the training messages of the others and routes the whole test split:
    messages of the unseen intents (and of `unknown_labels`) are out of scope. Returns the mean
    of each figure over the seeds (prefixed `open_set.`, beside the figures of each seed) and one
    row per seed and test message: the message id, its intent, whether it was out of scope, its
    length in words and the route, never its text.
    """
    protocol = params.open_set
    intents = sorted(set(training["label"]) - set(unknown_labels))
    unseen_count = round(len(intents) * protocol.unseen_share)
    if unseen_count < 1 or len(intents) - unseen_count < 2:
        return {}, pd.DataFrame()
    rows, per_seed = [], []
    for protocol_seed in protocol.seeds:
        rng = np.random.default_rng(protocol_seed)
        unseen = set(rng.choice(intents, unseen_count, replace=False))
        part = training[~training["label"].isin(unseen)]
        model, threshold = train(
            model_inputs(part, params), part["label"], params, seed, unknown_labels
        )
        routed = predict(model, model_inputs(test, params), threshold.value, escalate)
        out_of_scope = test["label"].isin(unseen | set(unknown_labels)).to_numpy()
        per_seed.append(routing_metrics(routed, test["label"], out_of_scope))
        rows.append(
            pd.DataFrame(
                {
                    "protocol_seed": protocol_seed,
                    "message_id": test["message_id"].to_numpy(),
                    "labelled_intent": test["label"].to_numpy(),
                    "out_of_scope": out_of_scope,
                    "words": test[TEXT].str.split().str.len().to_numpy(),
                    "predicted_intent": routed["predicted_intent"].to_numpy(),
                    "route": routed["route"].to_numpy(),
                    "reason": routed["reason"].to_numpy(),
                }
            )
        )
    summary = {
        f"open_set.{name}": float(np.nanmean([m.get(name, np.nan) for m in per_seed]))
        for name in OPEN_SET_METRICS
    }
    for protocol_seed, metrics in zip(protocol.seeds, per_seed, strict=True):
        summary.update(
            {
                f"open_set.seed_{protocol_seed}.{n}": metrics[n]
                for n in OPEN_SET_METRICS
                if n in metrics
            }
        )
    summary["open_set.unseen_intents"] = float(unseen_count)
    return summary, pd.concat(rows, ignore_index=True)


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
