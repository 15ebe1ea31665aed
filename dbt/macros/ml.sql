{#-
  What the AI use cases read from the warehouse (defs/features/assets.py), rendered for its engine
  (ai_roi/lib/dbt_sql.py).
-#}

{#- Labelled support messages the router learns from and is evaluated on. -#}
{% macro ml_router_dataset() -%}
select message_id, split, message_text as text, intent as label
from stg.stg_crm__messages
order by message_id
{%- endmacro %}

{#- Weekly demand of the products the forecaster plans for: full weeks only, the largest
    `p.top_products` products among those sold in at least `p.min_active_weeks` weeks
    (params.yaml forecast). Weeks where returns outweigh sales count as zero demand. -#}
{% macro ml_demand_history(p) -%}
with weekly as (
    -- a double on both engines (DuckDB hands its hugeint to pandas as one; a numeric from
    -- PostgreSQL has no such reading)
    select stock_code, week_start, cast(greatest(net_units, 0) as double precision) as units
    from marts.mart_demand_weekly
    where not is_partial_week
),

chosen as (
    select stock_code
    from weekly
    group by stock_code
    having count(*) filter (where units > 0) >= {{ p.min_active_weeks | int }}
    order by sum(units) desc, stock_code
    limit {{ p.top_products | int }}
)

select weekly.stock_code, weekly.week_start, weekly.units
from weekly
inner join chosen using (stock_code)
order by weekly.stock_code, weekly.week_start
{%- endmacro %}

{#- Sentence embeddings already computed, keyed by model and text, so reruns skip the encoder. -#}
{% macro ml_embedding_cache() -%}
create schema if not exists ml;
create table if not exists ml.text_embeddings (
    key varchar primary key,
    model varchar not null,
    embedding {{ embedding_type() }} not null
);
{%- endmacro %}

{#- An embedding's type: DuckDB's fixed-size array of 384 floats, PostgreSQL's array of reals. -#}
{% macro embedding_type() -%}
    {{ return(adapter.dispatch('embedding_type')()) }}
{%- endmacro %}
{% macro default__embedding_type() -%}
    real[]
{%- endmacro %}
{% macro duckdb__embedding_type() -%}
    float[384]
{%- endmacro %}

{#- The messages the router left to a person, least confident first, with why and the nearest
    intents (defs/router/assets.py human_queue). -#}
{% macro ml_human_queue() -%}
select
    row_number() over (order by confidence, message_id) as queue_position,
    message_id,
    text,
    reason,
    predicted_intent as suggested_intent,
    suggested_intents,
    {{ round_double('confidence', 4) }} as confidence,
    {{ round_double('unknown_score', 4) }} as unknown_score,
    explanation as suggestion_because,
    model_version,
    'open' as status
from ml.routed_messages
where route = 'human'
order by queue_position
{%- endmacro %}
