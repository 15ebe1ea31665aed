{#-
  The DuckDB threads each model runs on.

  The profile gives dbt's DuckDB one thread (profiles.yml): a sum of doubles then adds its terms in
  one order, so a re-run on the same data reproduces every published figure to the last digit, and
  a table is written in one order, which a sum over it downstream follows. A model that adds no
  doubles (its values are projections, counts, sums of integers or decimals, which are exact,
  minima, medians, a first value in a total order) and writes its rows in one order (a projection
  keeps its input's: DuckDB's preserve_insertion_order; else an `order by`) gives the same table on
  every core. Such a model says so with `meta: {parallel: true}` and runs on every core: the facts,
  dimensions and weekly demand of the order lines, the largest tables dbt writes
  (fct_order_lines at 50x the order lines: about 20 s on one thread, 10 s on two).

  Every model's pre-hook (dbt_project.yml) sets the threads it runs on, so the model after a
  parallel one is back on the profile's, whether or not the parallel one finished. With
  `--vars '{parallel_models: false}'` every model runs on the profile's threads (the build a
  parallel one must equal: tests/integration/test_pipeline.py). PostgreSQL has no such setting:
  nothing to set.
-#}
{% macro model_threads() -%}
    {{ return(adapter.dispatch('model_threads')()) }}
{%- endmacro %}
{% macro default__model_threads() -%}
{%- endmacro %}
{% macro duckdb__model_threads() -%}
    {%- set profile_threads = (target.get('settings') or {}).get('threads') -%}
    {%- set parallel = model.config.get('meta', {}).get('parallel') and var('parallel_models', true) -%}
    {%- if parallel or profile_threads is none -%}
        reset threads
    {%- else -%}
        set threads = {{ profile_threads }}
    {%- endif -%}
{%- endmacro %}
