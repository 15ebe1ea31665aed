"""Training extracts for the AI use cases: what the models learn from, versioned by DVC."""

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from ai_roi.lib import freshness
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.ml_assets import write_frame
from ai_roi.lib.warehouse import engine_of, fetch_frame, insert_arrow
from ai_roi.ml import embeddings, router, tracking
from ai_roi.resources import OutputsResource, ParamsResource

# the dbt macros of its queries, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/ml.sql",)
ROUTER_DATASET_KEY = dg.AssetKey(["ml", "router_dataset"])
DEMAND_HISTORY_KEY = dg.AssetKey(["ml", "demand_history"])
ROUTER_EXTRACT = ("extracts", "router_messages.parquet")
DEMAND_EXTRACT = ("extracts", "demand_weekly.parquet")
TRAIN, TEST = "train", "test"


def _embeddings(con, texts: list[str]) -> tuple[np.ndarray, int]:
    """Embeddings of `texts`, from the cache where possible; how many had to be encoded."""
    con.execute(render(engine_of(con), "ml_embedding_cache"))  # dbt/macros/ml.sql
    keys = [embeddings.text_key(t) for t in texts]
    cached = dict(
        con.execute(
            "select key, embedding from ml.text_embeddings"
            " where key in (select unnest($keys::text[]))",
            {"keys": sorted(set(keys))},
        ).fetchall()
    )
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
    if missing:
        fresh = np.asarray(embeddings.encode([t for _, t in missing]), dtype=np.float32)
        new_keys = [k for k, _ in missing]
        insert_arrow(
            con,
            "ml.text_embeddings",
            pa.table(
                {
                    "key": new_keys,
                    "model": [embeddings.MODEL_NAME] * len(new_keys),
                    "embedding": pa.array(list(fresh), type=pa.list_(pa.float32())),
                }
            ),
        )
        cached.update(zip(new_keys, fresh, strict=True))
    return np.vstack([np.asarray(cached[k], dtype=np.float32) for k in keys]), len(missing)


@dg.asset(
    key=ROUTER_DATASET_KEY,
    deps=[dg.AssetKey(["stg", "stg_crm__messages"])],
    group_name="features",
    kinds={"duckdb", "parquet"},
    tags={"classification": "confidential", "domain": "ai"},
)
def router_dataset(duckdb: DuckDBResource, outputs: OutputsResource) -> dg.MaterializeResult:
    """Labelled support messages with their split, extracted to extracts/router_messages.parquet; one row per message."""
    path = outputs.path(*ROUTER_EXTRACT)
    with duckdb.get_connection() as con:
        messages = fetch_frame(con, render(engine_of(con), "ml_router_dataset"))
        vectors, encoded = _embeddings(con, messages["text"].tolist())
        versions = freshness.staged_versions(con, ["messages"])
    emb = pd.DataFrame(
        vectors, columns=[f"{router.EMBEDDING_PREFIX}{i:03d}" for i in range(vectors.shape[1])]
    )
    data = pd.concat([messages, emb], axis=1)
    counts = data["split"].value_counts().to_dict()
    if not {TRAIN, TEST} <= set(counts):
        raise dg.Failure(
            f"the router needs messages in splits '{TRAIN}' and '{TEST}'; found {sorted(counts)}. "
            "Set `partition:` on the message files in the source catalogue."
        )
    write_frame(data, path, versions)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(data),
            "data_versions": dg.MetadataValue.json(versions),
            "rows_by_split": dg.MetadataValue.json(counts),
            "labels": int(data["label"].nunique()),
            "embedding_model": embeddings.MODEL_NAME,
            "texts_encoded_this_run": encoded,
            "path": str(path),
            **tracking.file_hashes(path),
        }
    )


@dg.asset(
    key=DEMAND_HISTORY_KEY,
    deps=[dg.AssetKey(["marts", "mart_demand_weekly"])],
    group_name="features",
    kinds={"duckdb", "parquet"},
    tags={"classification": "internal", "domain": "ai"},
)
def demand_history(
    duckdb: DuckDBResource, params: ParamsResource, outputs: OutputsResource
) -> dg.MaterializeResult:
    """Full weeks of demand of the planned products, extracted to extracts/demand_weekly.parquet; one row per product-week."""
    p = params.load().forecast
    path = outputs.path(*DEMAND_EXTRACT)
    with duckdb.get_connection() as con:
        chosen = {"min_active_weeks": p.min_active_weeks, "top_products": p.top_products}
        data = fetch_frame(con, render(engine_of(con), "ml_demand_history", chosen))
        versions = freshness.staged_versions(con, ["order_lines"])
    if data.empty:
        raise dg.Failure(
            f"no product was sold in at least {p.min_active_weeks} weeks: lower "
            "forecast.min_active_weeks in params.yaml or load more history"
        )
    write_frame(data, path, versions)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(data),
            "data_versions": dg.MetadataValue.json(versions),
            "products": int(data["stock_code"].nunique()),
            "first_week": str(data["week_start"].min().date()),
            "last_week": str(data["week_start"].max().date()),
            **tracking.file_hashes(path),
        }
    )
