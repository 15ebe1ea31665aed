{#-
  What the AI use cases read from the warehouse (defs/features/assets.py), rendered for its engine
  (ai_roi/lib/dbt_sql.py). `$name`s are bound when the query runs.
-#}

{#- Labelled support messages the router learns from and is evaluated on. -#}
{% macro ml_router_dataset() -%}
select message_id, split, message_text as text, intent as label
from stg.stg_crm__messages
order by message_id
{%- endmacro %}

{#- Weekly demand of the products the forecaster plans for: full weeks only, the largest products
    among those sold in at least $min_active_weeks weeks. Weeks where returns outweigh sales count
    as zero demand. -#}
{% macro ml_demand_history() -%}
with weekly as (
    select stock_code, week_start, greatest(net_units, 0) as units
    from marts.mart_demand_weekly
    where not is_partial_week
),

chosen as (
    select stock_code
    from weekly
    group by stock_code
    having count(*) filter (where units > 0) >= $min_active_weeks
    order by sum(units) desc, stock_code
    limit $top_products
)

select weekly.stock_code, weekly.week_start, weekly.units
from weekly
inner join chosen using (stock_code)
order by weekly.stock_code, weekly.week_start
{%- endmacro %}

{#- Sentence embeddings already computed, keyed by model and text, so reruns skip the encoder. -#}
{% macro ml_embedding_cache() -%}
    {{ return(adapter.dispatch('ml_embedding_cache')()) }}
{%- endmacro %}
{% macro default__ml_embedding_cache() -%}
create schema if not exists ml;
create table if not exists ml.text_embeddings (
    key varchar primary key,
    model varchar not null,
    embedding real[] not null
);
{%- endmacro %}
{% macro duckdb__ml_embedding_cache() -%}
create schema if not exists ml;
create table if not exists ml.text_embeddings (
    key varchar primary key,
    model varchar not null,
    embedding float[384] not null
);
{%- endmacro %}
