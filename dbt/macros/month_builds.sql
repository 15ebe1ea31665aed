{#- What each month of a period mart was built from (ai_roi/lib/month_builds.py): per month (its
    first day, ISO, or 'undated'), the rows of `p.table` dated by `p.column` and an
    order-independent hash of them. Compared only with the same engine's earlier fingerprints, so
    each engine hashes a row its own way. -#}
{% macro month_fingerprints(p) -%}
    {{ return(adapter.dispatch('month_fingerprints')(p)) }}
{%- endmacro %}
{% macro default__month_fingerprints(p) -%}
select coalesce(to_char({{ p.column }}, 'YYYY-MM-01'), '{{ p.undated }}') as month,
    count(*) || ':' || sum(hashtextextended(cast(t as text), 0)) as fingerprint
from {{ p.table }} as t
group by 1
{%- endmacro %}
{% macro duckdb__month_fingerprints(p) -%}
select coalesce(strftime({{ p.column }}, '%Y-%m-01'), '{{ p.undated }}') as month,
    count(*) || ':' || sum(hash(t)) as fingerprint
from {{ p.table }} as t
group by 1
{%- endmacro %}
