{% macro log_column_schema() %}
  {#- A post-hook: logs the built relation's columns and the warehouse's own type names as JSON. dagster-dbt attaches what
      a model logs this way to its materialization as its column schema (`dagster/column_schema`),
      which the UI shows and the marts' schema checks compare between builds. It runs in dbt's own
      process and connection: asking the warehouse from Dagster's process instead
      (`fetch_column_metadata`) would open the DuckDB file while dbt holds its write lock. -#}
  {%- if execute -%}
    {%- set columns = {} -%}
    {%- for column in adapter.get_columns_in_relation(this) -%}
      {%- do columns.update({column.name: {"data_type": column.dtype}}) -%}
    {%- endfor -%}
    {%- do log(tojson({"columns": columns}), info=true) -%}
  {%- endif -%}
{% endmacro %}
