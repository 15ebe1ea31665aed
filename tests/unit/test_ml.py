"""Pure ML logic: threshold choice, promotion decisions, baselines and forecast scores."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ai_roi.ml import embeddings, forecast, router, tracking
from ai_roi.params import ParamsError, load_params
from tests.conftest import params_dict

PARAMS = load_params(Path(__file__).resolve().parents[2] / "params.yaml")


def test_curve_and_threshold_reach_the_target_precision():
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    curve = router.precision_coverage_curve(confidence, correct)
    assert curve["coverage"].tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1])
    assert router.threshold_for_precision(curve, 1.0) == 0.9  # the first three are all right
    assert router.threshold_for_precision(curve, 0.8) == 0.7  # 4 of the top 5
    assert router.threshold_for_precision(curve, 1.01) > 1  # unreachable: nothing goes auto


def test_ties_in_confidence_never_split_across_the_threshold():
    curve = router.precision_coverage_curve(
        np.array([0.9, 0.9, 0.5]), np.array([True, False, True])
    )
    assert curve["threshold"].tolist() == [0.9, 0.5]
    assert curve["precision"].iloc[0] == 0.5


def _fixture_messages() -> pd.DataFrame:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "messages_train.csv.gz"
    return pd.read_csv(path).rename(columns={"category": "label"})


TFIDF_ONLY = PARAMS.router.model_copy(update={"embedding_weight": 0.0})


def test_the_threshold_is_chosen_on_scores_of_messages_each_fold_did_not_see():
    """Out-of-fold confidence is lower than in-sample: a threshold chosen in-sample would be too low."""
    messages = _fixture_messages()
    inputs = router.model_inputs(messages, TFIDF_ONLY)
    model, threshold = router.train(inputs, messages["label"], TFIDF_ONLY, PARAMS.seed)
    classifier = model.named_steps["classifier"]
    out_of_fold = classifier.oof_proba_
    in_sample = model.predict_proba(inputs)
    assert out_of_fold.shape == in_sample.shape == (len(messages), messages["label"].nunique())
    assert np.allclose(out_of_fold.sum(axis=1), 1) and np.allclose(in_sample.sum(axis=1), 1)
    oof_right = classifier.classes_[out_of_fold.argmax(1)] == messages["label"].to_numpy()
    in_right = model.predict(inputs) == messages["label"].to_numpy()
    assert oof_right.mean() < in_right.mean()
    assert out_of_fold.max(1).mean() < in_sample.max(1).mean()
    # the threshold keeps the auto route, in scope and confident, at the target precision on
    # the out-of-fold scores
    auto = classifier.oof_in_scope_ & (out_of_fold.max(1) >= threshold.value)
    assert oof_right[auto].mean() >= TFIDF_ONLY.target_precision
    assert threshold.cv_coverage == pytest.approx(auto.mean())
    assert threshold.cv_in_scope == pytest.approx(classifier.oof_in_scope_.mean())
    assert threshold.cv_in_scope < 1  # the scope holds some known messages back too


def test_the_fits_on_threads_give_the_model_one_thread_gives(monkeypatch):
    """The fold SVMs and the final one train side by side (AI_ROI_ML_THREADS): every fitted
    weight, calibration, out-of-fold probability and the threshold are those of one at a time."""
    messages = _fixture_messages()
    inputs = router.model_inputs(messages, TFIDF_ONLY)
    fitted = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("AI_ROI_ML_THREADS", threads)
        fitted[threads] = router.train(inputs, messages["label"], TFIDF_ONLY, PARAMS.seed)
    (one, one_threshold), (many, many_threshold) = fitted["1"], fitted["3"]
    assert many_threshold == one_threshold
    a, b = one.named_steps["classifier"], many.named_steps["classifier"]
    assert np.array_equal(a.estimator_.coef_, b.estimator_.coef_)
    assert np.array_equal(a.oof_proba_, b.oof_proba_)
    assert [(c.a_, c.b_) for c in a.calibrators_] == [(c.a_, c.b_) for c in b.calibrators_]
    assert np.array_equal(one.predict_proba(inputs), many.predict_proba(inputs))


def test_a_label_set_of_two_intents_trains_routes_and_explains():
    messages = _fixture_messages()
    two = messages[messages["label"].isin(sorted(messages["label"].unique())[:2])]
    inputs = router.model_inputs(two, TFIDF_ONLY)
    model, threshold = router.train(inputs, two["label"], TFIDF_ONLY, PARAMS.seed)
    routed = router.predict(model, inputs, threshold.value)
    assert set(routed["predicted_intent"]) <= set(two["label"])
    assert model.predict_proba(inputs).sum(axis=1) == pytest.approx(1.0)
    reasons = router.explain(model, inputs, routed["predicted_intent"], 3)
    assert len(reasons) == len(two) and any(reasons)


def _fixture_test_messages() -> pd.DataFrame:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "messages_test.csv.gz"
    frame = pd.read_csv(path).rename(columns={"category": "label"})
    return frame.assign(message_id=[f"m{i}" for i in range(len(frame))])


@functools.cache
def _embedded_messages() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fixture's train and test messages with their MiniLM embeddings, as the router reads them."""
    train, test = _fixture_messages(), _fixture_test_messages()
    vectors = embeddings.encode([*train["text"], *test["text"]])
    columns = [f"{router.EMBEDDING_PREFIX}{i:03d}" for i in range(vectors.shape[1])]
    frames = [train, test]
    return tuple(
        pd.concat([f, pd.DataFrame(v, columns=columns)], axis=1)
        for f, v in zip(frames, np.split(vectors, [len(train)]), strict=True)
    )


def _held_out(messages: pd.DataFrame) -> set[str]:
    """A quarter of the intents, the same every time: the router is never shown them."""
    return set(sorted(messages["label"].unique())[::4])


def test_messages_of_intents_never_learnt_go_to_a_person_as_unknown_intent():
    train, test = _embedded_messages()
    settings = PARAMS.router
    unseen = _held_out(train)
    learnt = train[~train["label"].isin(unseen)]
    model, threshold = router.train(
        router.model_inputs(learnt, settings), learnt["label"], settings, PARAMS.seed
    )
    routed = router.predict(model, router.model_inputs(test, settings), threshold.value)
    out = test["label"].isin(unseen).to_numpy()
    unknown = (routed["reason"] == router.UNKNOWN_INTENT).to_numpy()
    # most messages of an intent never learnt are sent to a person as unknown, and far more
    # often than messages of a learnt intent
    assert unknown[out].mean() >= 0.7
    assert unknown[out].mean() > 3 * unknown[~out].mean()
    assert (routed.loc[unknown, "route"] == router.HUMAN).all()
    # a person gets the router's nearest intents, all learnt ones, best first
    suggestions = routed.loc[unknown, "suggested_intents"].str.split(", ")
    assert (suggestions.str.len() == router.SUGGESTIONS).all()
    assert set(suggestions.explode()) <= set(learnt["label"])
    assert (suggestions.str[0] == routed.loc[unknown, "predicted_intent"]).all()
    # every message that went to a person says why; every automatic one has no reason
    human = (routed["route"] == router.HUMAN).to_numpy()
    assert routed.loc[human, "reason"].notna().all() and routed.loc[~human, "reason"].isna().all()

    # without a scope the same router answers those messages from the nearest intent
    off = settings.model_copy(
        update={"scope": settings.scope.model_copy(update={"unknown_recall": 0.0})}
    )
    plain, plain_threshold = router.train(
        router.model_inputs(learnt, off), learnt["label"], off, PARAMS.seed
    )
    unscoped = router.predict(plain, router.model_inputs(test, off), plain_threshold.value)
    assert (unscoped["reason"] != router.UNKNOWN_INTENT).all()
    assert (unscoped["route"].to_numpy()[out] == router.AUTO).mean() > (~unknown[out]).mean()


def test_labelled_out_of_scope_messages_fit_the_scope_and_are_never_an_intent():
    train, test = _fixture_messages(), _fixture_test_messages()
    unseen = _held_out(train)
    labelled = train.assign(label=train["label"].where(~train["label"].isin(unseen), "oos"))
    inputs = router.model_inputs(labelled, TFIDF_ONLY)
    model, threshold = router.train(inputs, labelled["label"], TFIDF_ONLY, PARAMS.seed, ("oos",))
    classifier = model.named_steps["classifier"]
    assert "oos" not in classifier.classes_
    assert classifier.known_rows_.sum() == (labelled["label"] != "oos").sum()
    # its threshold sends the labelled out-of-scope training messages to a person at the target
    oos_rows = router.model_inputs(labelled[labelled["label"] == "oos"], TFIDF_ONLY)
    kept = ~classifier.in_scope(model[:-1].transform(oos_rows))
    assert kept.mean() == pytest.approx(TFIDF_ONLY.scope.unknown_recall, abs=0.02)
    test = test.assign(label=test["label"].where(~test["label"].isin(unseen), "oos"))
    test_inputs = router.model_inputs(test, TFIDF_ONLY)
    metrics, _, per_intent = router.evaluate(
        model, test_inputs, test["label"], threshold.value, unknown_labels=("oos",)
    )
    assert metrics["oos_recall"] >= 0.6 and "oos" not in per_intent
    assert metrics["in_scope_share"] == pytest.approx((test["label"] != "oos").mean())


def test_a_label_set_of_one_intent_besides_the_out_of_scope_labels_is_refused():
    messages = _fixture_messages()
    one = messages.assign(label=messages["label"].where(messages["label"] == "card_arrival", "oos"))
    with pytest.raises(ValueError, match="at least two intents besides the out-of-scope labels"):
        router.train(
            router.model_inputs(one, TFIDF_ONLY), one["label"], TFIDF_ONLY, PARAMS.seed, ("oos",)
        )


def test_an_escalation_label_is_never_answered_automatically():
    train = _fixture_messages()
    inputs = router.model_inputs(train, TFIDF_ONLY)
    model, threshold = router.train(inputs, train["label"], TFIDF_ONLY, PARAMS.seed)
    escalate = ("lost_or_stolen_card", "compromised_card")
    free = router.predict(model, inputs, threshold.value)
    # the guard has something to stop: unguarded, the router answers these intents itself
    assert free.loc[free["predicted_intent"].isin(escalate), "route"].eq(router.AUTO).sum() > 10
    guarded = router.predict(model, inputs, threshold.value, escalate)
    as_escalated = guarded["predicted_intent"].isin(escalate)
    assert (guarded.loc[as_escalated, "route"] == router.HUMAN).all()
    assert set(guarded.loc[as_escalated, "reason"]) <= {
        router.ESCALATION_LABEL,
        router.UNKNOWN_INTENT,
    }
    # every other message is routed as before
    assert guarded.loc[~as_escalated].equals(free.loc[~as_escalated])


def test_the_unseen_intent_evaluation_holds_out_a_share_of_intents_per_seed():
    train, test = _fixture_messages(), _fixture_test_messages()
    settings = TFIDF_ONLY.model_copy(
        update={"open_set": TFIDF_ONLY.open_set.model_copy(update={"seeds": (0, 1)})}
    )
    summary, routes = router.open_set_evaluation(train, test, settings, PARAMS.seed)
    intents = train["label"].nunique()
    assert summary["open_set.unseen_intents"] == round(intents * settings.open_set.unseen_share)
    assert len(routes) == 2 * len(test) and "text" not in routes.columns
    for seed, part in routes.groupby("protocol_seed"):
        held = set(part.loc[part["out_of_scope"], "labelled_intent"])
        assert len(held) == summary["open_set.unseen_intents"]
        # an intent held out is never predicted: the router never learnt it
        assert not held & set(part["predicted_intent"])
        recall = (part.loc[part["out_of_scope"], "route"] == router.HUMAN).mean()
        assert summary[f"open_set.seed_{seed}.oos_recall"] == pytest.approx(recall)
    assert summary["open_set.oos_recall"] == pytest.approx(
        (summary["open_set.seed_0.oos_recall"] + summary["open_set.seed_1.oos_recall"]) / 2
    )
    # too few intents to hold some out and keep two: no figures rather than wrong ones
    two = train[train["label"].isin(sorted(train["label"].unique())[:2])]
    summary, routes = router.open_set_evaluation(two, test, settings, PARAMS.seed)
    assert summary == {} and routes.empty


def test_gate_needs_bars_met_and_champion_not_beaten():
    higher = {"accuracy": True, "wape": False}
    ok = tracking.gate_failures(
        {"accuracy": 0.9, "wape": 0.5}, {"accuracy": 0.85}, {"wape": 0.6}, higher, None, 0.01
    )
    assert ok == []
    below = tracking.gate_failures(
        {"accuracy": 0.8, "wape": 0.5}, {"accuracy": 0.85}, {}, higher, None, 0.01
    )
    assert len(below) == 1 and "accuracy" in below[0]
    champion = {"accuracy": 0.92, "wape": 0.45}
    within = tracking.gate_failures(
        {"accuracy": 0.915, "wape": 0.455}, {}, {}, higher, champion, 0.01
    )
    assert within == []
    worse = tracking.gate_failures({"accuracy": 0.90, "wape": 0.47}, {}, {}, higher, champion, 0.01)
    assert len(worse) == 2


def test_a_champion_that_misses_a_bar_raised_since_cannot_hold_a_candidate_back():
    higher = {"automation_rate": True}
    floor = {"oos_recall": 0.7}
    candidate = {"automation_rate": 0.84, "oos_recall": 0.79}
    # the champion answers more automatically because it never sends unknown messages to a person
    for champion_oos in (0.2, float("nan")):  # below the new floor, or never measured
        champion = {"automation_rate": 0.96, "oos_recall": champion_oos}
        assert tracking.gate_failures(candidate, floor, {}, higher, champion, 0.01) == []
    # a champion that meets today's bars is still the standard
    meets = {"automation_rate": 0.96, "oos_recall": 0.75}
    worse = tracking.gate_failures(candidate, floor, {}, higher, meets, 0.01)
    assert len(worse) == 1 and worse[0].startswith("automation_rate")
    # a candidate missing a bar's figure never passes it
    missing = tracking.gate_failures({"automation_rate": 0.9}, floor, {}, higher, None, 0.01)
    assert missing == ["oos_recall was not measured"]


def _panel(rows: list[list[float]]) -> forecast.Panel:
    units = np.array(rows, dtype=float)
    weeks = pd.date_range("2011-01-03", periods=units.shape[1], freq="7D")
    return forecast.Panel([f"P{i}" for i in range(len(rows))], weeks, units)


def test_baselines_look_back_the_right_number_of_weeks():
    p = PARAMS.forecast.model_copy(update={"season_length": 4, "moving_average_weeks": 2})
    history = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], dtype=float)
    assert forecast.baseline("naive", history, 3, p)[0] == 8
    assert forecast.baseline("moving_average", history, 1, p)[0] == 7.5
    # same position in the last full season: h=1 -> week 5, h=4 -> week 8, h=5 -> week 5 again
    assert [forecast.baseline("seasonal_naive", history, h, p)[0] for h in (1, 4, 5)] == [5, 8, 5]


def test_scores_are_wape_mase_and_bias_of_each_method():
    bt = pd.DataFrame(
        {
            "stock_code": ["A", "A", "B"],
            "actual": [10.0, 0.0, 5.0],
            "model": [8.0, 1.0, 5.0],
            "naive": [10.0, 10.0, 0.0],
            "seasonal_naive": [0.0, 0.0, 0.0],
            "moving_average": [5.0, 5.0, 5.0],
        }
    )
    scores = forecast.scores(bt, pd.Series({"A": 2.0, "B": 1.0}))
    assert scores["model"]["wape"] == pytest.approx((2 + 1 + 0) / 15)
    assert scores["model"]["bias"] == pytest.approx((-2 + 1 + 0) / 15)
    assert scores["model"]["mase"] == pytest.approx(np.mean([2 / 2, 1 / 2, 0 / 1]))
    assert scores["naive"]["wape"] == pytest.approx((0 + 10 + 5) / 15)


def test_backtest_never_uses_the_week_it_forecasts():
    rng = np.random.default_rng(0)
    panel = _panel(rng.poisson(5, size=(3, 30)).tolist())
    p = PARAMS.forecast.model_copy(update={"lags": 3, "backtest_origins": 3, "horizon_weeks": 2})
    bt = forecast.backtest(panel, p, seed=0)
    assert (bt["week_start"] > bt["origin"]).all()
    assert set(bt["horizon"]) == {1, 2}
    # the naive forecast is the origin week's units
    origin_index = {w: i for i, w in enumerate(panel.weeks)}
    first = bt.iloc[0]
    assert first["naive"] == panel.units[0, origin_index[first["origin"]]]


def test_too_little_history_is_an_actionable_error():
    p = PARAMS.forecast.model_copy(update={"lags": 8, "horizon_weeks": 4})
    with pytest.raises(ValueError, match="lags=8"):
        forecast.origins(_panel([[1.0] * 10]), p)


def test_invalid_params_name_the_field(tmp_path):
    bad = params_dict(router={"target_precision": 1.5})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ParamsError, match="router.target_precision"):
        load_params(path)


def test_two_years_of_history_make_the_season_yearly_and_add_year_ago_features():
    p = PARAMS.forecast
    one_year = _panel([list(range(1, 60))])  # 59 weeks: a year and a bit
    assert forecast.seasonal(p, one_year) == p
    assert "year_ago" not in forecast.feature_names(p)

    weeks = 2 * p.yearly_season_weeks + 6
    two_years = _panel([[float(w) for w in range(weeks)], [float(w % 7) for w in range(weeks)]])
    yearly = forecast.seasonal(p, two_years)
    assert yearly.season_length == p.yearly_season_weeks and yearly.year_ago_features
    # the seasonal naive forecast of week t + h is the same week a year earlier
    t, h = weeks - 3, 2
    history = two_years.units[:, : t + 1]
    same_week = forecast.baseline("seasonal_naive", history, h, yearly)
    assert same_week.tolist() == two_years.units[:, t + h - 52].tolist()

    names = forecast.feature_names(yearly)
    x, level = forecast.features_at(two_years.units, t, h, yearly)
    assert x.shape[1] == len(names) and names[-2:] == ["year_ago", "year_ago_ma_3"]
    assert (x[:, names.index("year_ago")] * level).tolist() == same_week.tolist()
    # an origin whose target a year earlier is before the history: missing, not zero
    early, _ = forecast.features_at(two_years.units, 10, 1, yearly)
    assert np.isnan(early[:, names.index("year_ago")]).all()


def test_a_router_saved_under_the_packages_former_name_still_loads(tmp_path, monkeypatch):
    """A champion registered before the package was renamed names its class by the old module
    path; tracking.load_model finds it under the new one (a plain load cannot)."""
    import sys

    import mlflow

    messages = _fixture_messages()
    two = messages[messages["label"].isin(sorted(messages["label"].unique())[:2])]
    inputs = router.model_inputs(two, TFIDF_ONLY)
    model, _ = router.train(inputs, two["label"], TFIDF_ONLY, PARAMS.seed)
    former = f"{tracking.FORMER_PACKAGE}.ml.router"
    # saved as the former package saved it: the class's module and the trusted types say so
    monkeypatch.setattr(router.CrossFitCalibratedSVC, "__module__", former)
    for name, module in [(tracking.FORMER_PACKAGE, sys.modules["ai_roi"]), (former, router)]:
        monkeypatch.setitem(sys.modules, name, module)
    mlflow.sklearn.save_model(
        model,
        tmp_path / "router",
        serialization_format="skops",
        skops_trusted_types=[f"{former}.CrossFitCalibratedSVC", *router.CALIBRATION_TYPES[1:]],
    )
    monkeypatch.undo()
    for name in [m for m in sys.modules if m.split(".")[0] == tracking.FORMER_PACKAGE]:
        monkeypatch.delitem(sys.modules, name)

    with pytest.raises(ModuleNotFoundError, match=tracking.FORMER_PACKAGE):
        mlflow.sklearn.load_model(str(tmp_path / "router"))
    loaded = tracking.load_model(str(tmp_path / "router"))
    assert type(loaded.named_steps["classifier"]) is router.CrossFitCalibratedSVC
    assert np.array_equal(loaded.predict_proba(inputs), model.predict_proba(inputs))


def test_a_registered_version_is_loaded_once_and_an_alias_follows_its_version(
    tmp_path, monkeypatch
):
    """tracking.load_model keeps the last versions it loaded, per registry: the same version
    again is the same object without a second load; an alias is read anew each time."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    loads = []
    real = mlflow.sklearn.load_model
    monkeypatch.setattr(mlflow.sklearn, "load_model", lambda uri: loads.append(uri) or real(uri))
    tracking._load_version.cache_clear()
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    try:
        stores = []
        for store in ("a", "b"):
            uri = f"sqlite:///{tmp_path / store}.db"
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            # artifacts in tmp too (a new store's default is ./mlruns, in the user's folder)
            MlflowClient().create_experiment(store, (tmp_path / store).as_uri())
            mlflow.set_experiment(store)
            for c in (1.0, 0.01):
                with mlflow.start_run():
                    mlflow.sklearn.log_model(
                        LogisticRegression(C=c).fit(X, y), name="m", registered_model_name="m"
                    )
            MlflowClient().set_registered_model_alias("m", tracking.CHAMPION, "1")
            stores.append(uri)

        first = tracking.load_model("models:/m/1")  # store b: the registry set last
        assert tracking.load_model("models:/m/1") is first
        assert tracking.load_model(f"models:/m@{tracking.CHAMPION}") is first
        assert loads == ["models:/m/1"]
        MlflowClient().set_registered_model_alias("m", tracking.CHAMPION, "2")
        second = tracking.load_model(f"models:/m@{tracking.CHAMPION}")
        assert second is not first and second.C == 0.01
        # the same version of another registry is another model
        mlflow.set_registry_uri(stores[0])
        other = tracking.load_model("models:/m/1")
        assert other is not first and loads == ["models:/m/1", "models:/m/2", "models:/m/1"]
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
        tracking._load_version.cache_clear()
