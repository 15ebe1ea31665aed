{#-
  The DuckDB threads each model runs on.

  The profile gives dbt's DuckDB one thread (profiles.yml): a sum of doubles then adds its terms in
  one order, so a re-run on the same data reproduces every published figure to the last digit. A
  model whose rows are the rows of its input one by one (a projection: no aggregate, no join, no
  window) gives the same rows in the same order on every core: DuckDB keeps a query's insertion
  order (preserve_insertion_order) and adds no terms. Such a model says so with
  `meta: {parallel: true}` and runs on every core; the fact tables of the order lines and tickets,
  the largest tables dbt writes, took half the time on two cores at 10x the order lines.

  Every model's pre-hook (dbt_project.yml) sets the threads it runs on, so the model after a
  parallel one is back on the profile's, whether or not the parallel one finished. PostgreSQL has
  no such setting: nothing to set.
-#}
{% macro model_threads() -%}
    {{ return(adapter.dispatch('model_threads')()) }}
{%- endmacro %}
{% macro default__model_threads() -%}
{%- endmacro %}
{% macro duckdb__model_threads() -%}
    {%- set profile_threads = (target.get('settings') or {}).get('threads') -%}
    {%- if model.config.get('meta', {}).get('parallel') or profile_threads is none -%}
        reset threads
    {%- else -%}
        set threads = {{ profile_threads }}
    {%- endif -%}
{%- endmacro %}
