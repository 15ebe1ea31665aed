{#-
  The months a partitioned build rewrites (Dagster's monthly partitions, defs/marts/assets.py).

  Dagster passes a window of whole months as AI_ROI_DBT_MONTHS_FROM / AI_ROI_DBT_MONTHS_TO
  (ISO dates, the end exclusive). Environment variables, not --vars: dbt re-parses only the files
  that read a changed environment variable, but the whole project when a var changes.
  No window (a full build, or dbt run by hand) means every month.
-#}
{% macro month_window_bounds() -%}
    {%- set start = env_var('AI_ROI_DBT_MONTHS_FROM', '') -%}
    {%- set end = env_var('AI_ROI_DBT_MONTHS_TO', '') -%}
    {%- if (start == '') != (end == '') -%}
        {{ exceptions.raise_compiler_error("set both AI_ROI_DBT_MONTHS_FROM and AI_ROI_DBT_MONTHS_TO, or neither") }}
    {%- endif -%}
    {{ return((start, end) if start else none) }}
{%- endmacro %}

{#- `where` for the rows of the window's months by `column`, or nothing without a window. -#}
{% macro month_window(column) -%}
    {%- set bounds = month_window_bounds() -%}
    {%- if bounds -%}
        where {{ column }} >= date '{{ bounds[0] }}' and {{ column }} < date '{{ bounds[1] }}'
    {%- endif -%}
{%- endmacro %}

{#-
  Pre-hook of a monthly incremental model: delete the window's months (every month without a
  window) so the model's select writes them again. Nothing on a first or --full-refresh build.
-#}
{% macro delete_month_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} {{ month_window(column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
