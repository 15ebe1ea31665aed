"""The router's promotion gate: a blocking check in front of the champion alias."""

import math

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_roi.defs.router.assets import (
    EVALUATION_KEY,
    NAME,
    OPEN_SET_TABLE,
    ROUTED_KEY,
    label_roles,
    test_split,
)
from ai_roi.lib.history import recorded
from ai_roi.lib.ml_assets import latest_metadata, promotion_gate
from ai_roi.lib.rules import md_table
from ai_roi.lib.warehouse import fetch_frame
from ai_roi.ml import fairness, router, tracking
from ai_roi.resources import (
    MlflowResource,
    OutputsResource,
    ParamsResource,
    SourceCatalogResource,
)

HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "auto_precision": True,
    "automation_rate": True,
}


@dg.asset_check(
    asset=EVALUATION_KEY,
    blocking=True,
    metadata={"dimension": "accuracy"},
    name="router_clears_promotion_gate",
)
def router_clears_promotion_gate(
    context: dg.AssetCheckExecutionContext,
    params: ParamsResource,
    mlflow_store: MlflowResource,
    duckdb: DuckDBResource,
    outputs: OutputsResource,
    catalog: SourceCatalogResource,
) -> dg.AssetCheckResult:
    """Promote only if upstream data checks passed, the bars in params.yaml are met (out-of-scope recall included), and the champion, scored on the same test split, is not better."""
    gate = params.load().router.gate
    roles = label_roles(catalog)
    candidate = latest_metadata(context, EVALUATION_KEY)
    observed = {k: candidate[k] for k in HIGHER_IS_BETTER}
    minimums = {
        "accuracy": gate.min_accuracy,
        "macro_f1": gate.min_macro_f1,
        "auto_precision": gate.min_auto_precision,
        "automation_rate": gate.min_automation_rate,
    }
    # out-of-scope recall from the unseen-intent evaluation; with too few intents to hold some
    # out, from the test split's labelled out-of-scope messages; with neither, not measurable
    oos_recall = candidate.get("open_set.oos_recall", candidate.get("oos_recall"))
    if oos_recall is not None:
        observed["oos_recall"] = oos_recall
        minimums["oos_recall"] = gate.min_oos_recall

    def rescore_champion(champion: tracking.Champion) -> dict[str, float]:
        """The champion's metrics on the test split the candidate was just scored on."""
        model = tracking.load_model(f"models:/{NAME}/{champion.version}")
        test = test_split(outputs)
        metrics, _, _ = router.evaluate(
            model,
            test[list(model.feature_names_in_)],
            test["label"],
            champion.metrics["threshold"],
            **roles,
        )
        # out-of-scope recall belongs to the champion's recipe, measured when it was trained;
        # a champion from before the scope has none, and cannot be shown to meet the floor
        metrics["oos_recall"] = champion.metrics.get("open_set.oos_recall", math.nan)
        return metrics

    return promotion_gate(
        context,
        duckdb,
        mlflow_store,
        model_name=NAME,
        asset_key=EVALUATION_KEY,
        candidate_version=candidate["model_version"],
        observed=observed,
        minimums=minimums,
        maximums={},
        higher_is_better=HIGHER_IS_BETTER,
        tolerance=gate.tolerance,
        rescore_champion=rescore_champion,
    )


@dg.asset_check(
    asset=ROUTED_KEY,
    name="router_segment_gap",
    description="Responsible AI: accuracy, automation rate and auto precision per intent group "
    "and per message length, and the out-of-scope recall of the unseen-intent evaluation per "
    "segment; warns when the best and worst segment differ by more than router.fairness.max_gap.",
    metadata={"dimension": "accuracy"},  # of the model, per segment
)
def router_segment_gap(
    context: dg.AssetCheckExecutionContext, params: ParamsResource, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    p = params.load().router.fairness
    with duckdb.get_connection() as con:
        routed = fetch_frame(
            con, "select text, labelled_intent, predicted_intent, route from ml.routed_messages"
        )
        open_set = fetch_frame(
            con, f"select labelled_intent, words, route from ml.{OPEN_SET_TABLE} where out_of_scope"
        )
        table = fairness.segment_table(routed, p.length_bins, p.min_segment_size, open_set)
        gaps = fairness.largest_gaps(table)
        over = {k: v for k, v in gaps.items() if v["gap"] > p.max_gap}
        largest = max(gaps.items(), key=lambda kv: kv[1]["gap"], default=(None, {"gap": 0.0}))
        result = dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "dimension": "accuracy",
                "max_gap": p.max_gap,
                "largest_gap": largest[1]["gap"],
                "largest_gap_at": str(largest[0]),
                "gaps": dg.MetadataValue.json(gaps),
                "segments": dg.MetadataValue.md(
                    md_table(table.round(4).to_dict("records"), limit=100)
                ),
                "summary": "; ".join(
                    f"{k} gap {v['gap']:.3f} (best {v['best']}, worst {v['worst']})"
                    for k, v in over.items()
                )
                or f"largest gap {largest[1]['gap']:.3f} at {largest[0]}",
            },
        )
        return recorded(context, con, [result], kind="monitor", asset_key=ROUTED_KEY)[0]
