"""Support-request intent router: dataset -> model -> evaluation -> champion -> routed messages."""

import json
import re
import sys

import dagster as dg
import mlflow
import pandas as pd
import sklearn
from dagster_duckdb import DuckDBResource
from mlflow.models import infer_signature

from ai_roi.defs.features.assets import ROUTER_DATASET_KEY, ROUTER_EXTRACT, TEST, TRAIN
from ai_roi.lib import freshness
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.ml_assets import (
    ML_TAGS,
    latest_metadata,
    load_champion,
    promote_champion,
    publish_table,
    reusable_version,
    write_json,
)
from ai_roi.lib.warehouse import engine_of, rebuild_table
from ai_roi.ml import router, tracking
from ai_roi.resources import (
    MlflowResource,
    OutputsResource,
    ParamsResource,
    SourceCatalogResource,
)

NAME = "intent_router"
MODEL_KEY = dg.AssetKey(["ml", "router_model"])
EVALUATION_KEY = dg.AssetKey(["ml", "router_evaluation"])
CHAMPION_KEY = dg.AssetKey(["ml", "router_champion"])
ROUTED_KEY = dg.AssetKey(["ml", "routed_messages"])
# this module trains the model: its source is part of the training key
THIS = sys.modules[__name__]


def _dataset(outputs: OutputsResource) -> pd.DataFrame:
    return pd.read_parquet(outputs.path(*ROUTER_EXTRACT))


def test_split(outputs: OutputsResource) -> pd.DataFrame:
    data = _dataset(outputs)
    return data[data["split"] == TEST].reset_index(drop=True)


def label_roles(catalog: SourceCatalogResource) -> dict[str, tuple[str, ...]]:
    """The catalogue's labels that always go to a person, and those that name no intent."""
    cfg = catalog.load().messages
    return {
        "escalate": tuple(sorted(cfg.escalate_labels)),
        "unknown_labels": tuple(sorted(cfg.out_of_scope_labels)),
    }


OPEN_SET_TABLE = "router_open_set"
OPEN_SET_ARTIFACT = "open_set_routes.json"


@dg.asset(
    key=MODEL_KEY,
    deps=[ROUTER_DATASET_KEY],
    group_name="router",
    kinds={"mlflow", "sklearn"},
    tags=ML_TAGS,
)
def router_model(
    context: dg.AssetExecutionContext,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
    catalog: SourceCatalogResource,
) -> dg.MaterializeResult:
    """Intent router trained on the train split, threshold and scope chosen by cross-validation; one MLflow model version per distinct extract, settings and code (an unchanged one is reused)."""
    p = params.load()
    roles = label_roles(catalog)
    path = outputs.path(*ROUTER_EXTRACT)
    versions = freshness.parquet_versions(path) or {}
    hashes = tracking.file_hashes(path)
    experiment = mlflow_store.experiment(NAME)
    settings_used = {
        "seed": p.seed,
        "router": p.router.model_dump(mode="json", exclude={"gate"}),
        "labels": roles,
    }
    key = tracking.training_key(hashes["data_sha256"], settings_used, [router, THIS], [sklearn])
    reused = reusable_version(context, NAME, key)
    if reused is not None:
        return dg.MaterializeResult(
            metadata={
                "mlflow_run_id": reused.run_id,
                "model_version": reused.version,
                "data_versions": dg.MetadataValue.json(versions),
                "threshold": reused.metrics["threshold"],
                "cv_auto_precision": reused.metrics["cv_auto_precision"],
                "cv_automation_rate": reused.metrics["cv_automation_rate"],
                "cv_in_scope": reused.metrics["cv_in_scope"],
                "reused": True,
                "training_key": key,
            }
        )
    data = _dataset(outputs)
    train = data[data["split"] == TRAIN]
    with mlflow.start_run(
        experiment_id=experiment, run_name=f"router-{context.run.run_id[:8]}"
    ) as run:
        mlflow.set_tags(
            {
                "dagster_run_id": context.run.run_id,
                "git_commit": tracking.git_commit(),
                "data_path": path.name,
                "data_versions": json.dumps(versions, sort_keys=True),
                tracking.TRAINING_KEY_TAG: key,
                **hashes,
            }
        )
        mlflow.log_params(
            {"seed": p.seed, **{k: v for k, v in p.router.model_dump().items() if k != "gate"}}
        )
        mlflow.log_params(
            {
                "train_rows": len(train),
                "labels": train["label"].nunique(),
                "escalate_labels": ", ".join(roles["escalate"]) or "none",
                "out_of_scope_labels": ", ".join(roles["unknown_labels"]) or "none",
            }
        )
        inputs = router.model_inputs(train, p.router)
        model, threshold = router.train(
            inputs, train["label"], p.router, p.seed, roles["unknown_labels"]
        )
        scope_threshold = model.named_steps["classifier"].scope_threshold_
        mlflow.log_metrics(
            {
                "threshold": threshold.value,
                "cv_auto_precision": threshold.cv_precision,
                "cv_automation_rate": threshold.cv_coverage,
                "cv_in_scope": threshold.cv_in_scope,
                # above it a message is of no learnt intent; infinite when the scope is off
                "scope_threshold": min(scope_threshold, 1e9),
            }
        )
        example = inputs.head(3)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            registered_model_name=NAME,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}"],
            metadata={"threshold": threshold.value, "target_precision": p.router.target_precision},
            # skops (MLflow's safe format) must be told these calibration classes are expected
            skops_trusted_types=router.CALIBRATION_TYPES,
        )
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run.info.run_id,
            "model_version": str(info.registered_model_version),
            "data_versions": dg.MetadataValue.json(versions),
            "threshold": threshold.value,
            "cv_auto_precision": threshold.cv_precision,
            "cv_automation_rate": threshold.cv_coverage,
            "cv_in_scope": threshold.cv_in_scope,
            "reused": False,
            "training_key": key,
        }
    )


@dg.asset(key=EVALUATION_KEY, deps=[MODEL_KEY], group_name="router", kinds={"mlflow"}, tags=ML_TAGS)
def router_evaluation(
    context: dg.AssetExecutionContext,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
    catalog: SourceCatalogResource,
) -> dg.MaterializeResult:
    """The new router version scored once on the held-out test split, and its recipe with a quarter of the intents never learnt; one set of metrics per model version."""
    p = params.load()
    roles = label_roles(catalog)
    trained = latest_metadata(context, MODEL_KEY)
    mlflow_store.experiment(NAME)
    model = tracking.load_model(f"models:/{NAME}/{trained['model_version']}")
    data = _dataset(outputs)
    test = data[data["split"] == TEST].reset_index(drop=True)
    versions = freshness.parquet_versions(outputs.path(*ROUTER_EXTRACT)) or {}
    inputs = test[list(model.feature_names_in_)]
    metrics, curve, per_intent = router.evaluate(
        model, inputs, test["label"], trained["threshold"], **roles
    )
    # a reused version was scored on this very split when it was trained: its run holds these
    # figures already (logging them again would append a second copy of the coverage table)
    if trained.get("reused"):
        logged = mlflow.get_run(trained["mlflow_run_id"]).data.metrics
        open_set = {k: v for k, v in logged.items() if k.startswith("open_set.")}
    else:
        train = data[data["split"] == TRAIN].reset_index(drop=True)
        open_set, routes = router.open_set_evaluation(train, test, p.router, p.seed, **roles)
        with mlflow.start_run(run_id=trained["mlflow_run_id"]):
            mlflow.log_metrics({**metrics, **open_set})
            # MLflow metric names allow letters, digits and _-. :/ only; labels are the user's own
            mlflow.log_metrics(
                {re.sub(r"[^\w\-. :/]", "_", f"f1.{i}"): f1 for i, f1 in per_intent.items()}
            )
            mlflow.log_dict(per_intent, "per_intent_f1.json")
            mlflow.log_table(curve, "coverage_at_precision.json")
            if not routes.empty:  # message ids, intents and routes: never a message's text
                mlflow.log_table(routes, OPEN_SET_ARTIFACT)
    # the candidate's figures stay in MLflow and here; router_champion writes metrics/ once the
    # gate has let this version through
    headline = {k: v for k, v in open_set.items() if ".seed_" not in k}
    summary = {
        k: round(v, 6)
        for k, v in {**metrics, **open_set, "threshold": trained["threshold"]}.items()
    }
    worst = sorted(per_intent.items(), key=lambda kv: kv[1])[:5]
    return dg.MaterializeResult(
        metadata={
            **{k: float(v) for k, v in {**metrics, **headline}.items()},
            "model_version": trained["model_version"],
            "mlflow_run_id": trained["mlflow_run_id"],
            "threshold": trained["threshold"],
            "metrics": dg.MetadataValue.json(summary),
            "data_versions": dg.MetadataValue.json(versions),
            "weakest_intents": dg.MetadataValue.json(dict(worst)),
            "open_set_protocol": (
                f"{p.router.open_set.unseen_share:.0%} of the intents never learnt, seeds "
                f"{list(p.router.open_set.seeds)}"
                if open_set
                else "not run: too few intents to hold a share out and keep two"
            ),
        }
    )


def open_set_routes(champion: tracking.Champion) -> pd.DataFrame:
    """The champion's routes in its unseen-intent evaluation (empty when it had none)."""
    if not any(k.startswith("open_set.") for k in champion.metrics):
        return _no_routes()
    table = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{OPEN_SET_ARTIFACT}")
    return pd.DataFrame(table["data"], columns=table["columns"])


def _no_routes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "protocol_seed": pd.Series(dtype="int64"),
            "message_id": pd.Series(dtype="str"),
            "labelled_intent": pd.Series(dtype="str"),
            "out_of_scope": pd.Series(dtype="bool"),
            "words": pd.Series(dtype="int64"),
            "predicted_intent": pd.Series(dtype="str"),
            "route": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


@dg.asset(
    key=CHAMPION_KEY, deps=[EVALUATION_KEY], group_name="router", kinds={"mlflow"}, tags=ML_TAGS
)
def router_champion(
    context: dg.AssetExecutionContext, mlflow_store: MlflowResource, outputs: OutputsResource
) -> dg.MaterializeResult:
    """The router version that cleared the promotion gate, aliased champion and exported to models/intent_router, with metrics/router.json; one champion version per model name."""
    result = promote_champion(
        context, mlflow_store, outputs, model_name=NAME, candidate_key=EVALUATION_KEY
    )
    candidate = latest_metadata(context, EVALUATION_KEY)
    # the figures say which delivery they were measured on: `ai-roi summary` marks them stale
    write_json(
        outputs.path("metrics", "router.json"),
        {**candidate["metrics"], "data_versions": candidate["data_versions"]},
    )
    table = mlflow.artifacts.load_dict(
        f"runs:/{candidate['mlflow_run_id']}/coverage_at_precision.json"
    )
    curve = pd.DataFrame(table["data"], columns=table["columns"])
    grid = curve.iloc[:: max(1, len(curve) // 100)].round(6)
    grid.to_csv(outputs.path("metrics", "router_coverage.csv"), index=False)
    return result


@dg.asset(
    key=ROUTED_KEY,
    deps=[CHAMPION_KEY],
    group_name="router",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "ai"},
)
def routed_messages(
    duckdb: DuckDBResource,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    outputs: OutputsResource,
    catalog: SourceCatalogResource,
) -> dg.MaterializeResult:
    """Test-split messages routed by the champion: intent, confidence, scope, auto or human, and why; one row per message (and the champion's unseen-intent routes, ml.router_open_set)."""
    p = params.load()
    roles = label_roles(catalog)
    best, model = load_champion(mlflow_store, NAME, CHAMPION_KEY)
    test = test_split(outputs)
    inputs = test[list(model.feature_names_in_)]
    routed = router.predict(model, inputs, best.metrics["threshold"], roles["escalate"])
    routed["explanation"] = router.explain(
        model, inputs, routed["predicted_intent"], p.router.explanation_terms
    )
    routed_frame = pd.concat([test[["message_id", "text", "label"]], routed], axis=1).rename(
        columns={"label": "labelled_intent"}
    )
    routed_frame["model_version"] = best.version
    # a labelled message of no learnt intent: the router should send it to a person
    routed_frame["in_scope"] = ~routed_frame["labelled_intent"].isin(roles["unknown_labels"])
    publish_table(duckdb, routed_frame, "routed_messages")
    # beside them, the champion's own unseen-intent routes (router_segment_gap reads both): a
    # refused candidate's evaluation never replaces them
    publish_table(duckdb, open_set_routes(best).assign(model_version=best.version), OPEN_SET_TABLE)
    auto = routed_frame["route"] == router.AUTO
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(routed_frame),
            "auto": int(auto.sum()),
            "human_queue": int((~auto).sum()),
            "auto_precision": float(
                (routed_frame["predicted_intent"] == routed_frame["labelled_intent"])[auto].mean()
            ),
            "champion_version": best.version,
        }
    )


HUMAN_QUEUE_KEY = dg.AssetKey(["ml", "human_queue"])
# the dbt macros of its queries, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/ml.sql", "dbt/macros/cross_engine.sql")


@dg.asset(
    key=HUMAN_QUEUE_KEY,
    deps=[ROUTED_KEY],
    group_name="router",
    kinds={"duckdb"},
    tags={"classification": "confidential", "domain": "ai"},
)
def human_queue(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The messages the router left to a person, least confident first, with why (unknown_intent, escalation_label, low_confidence) and the nearest intents, for an agent to work from; one row per message waiting."""
    with duckdb.get_connection() as con:
        # dbt/macros/ml.sql
        rebuild_table(con, "ml.human_queue", render(engine_of(con), "ml_human_queue"))
        waiting, lowest = con.execute(
            "select count(*), min(confidence) from ml.human_queue"
        ).fetchone()
        by_intent = con.execute(
            "select suggested_intent, count(*) from ml.human_queue group by 1 order by 2 desc limit 10"
        ).fetchall()
        by_reason = con.execute(
            "select reason, count(*) from ml.human_queue group by 1 order by 2 desc"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": waiting,
            "lowest_confidence": float(lowest if lowest is not None else 0.0),
            "top_suggested_intents": dg.MetadataValue.json(dict(by_intent)),
            "by_reason": dg.MetadataValue.json(dict(by_reason)),
        }
    )
