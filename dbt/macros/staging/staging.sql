{#-
  The staged layer's SQL: how the deliveries in play of a source become its staged rows and its
  quarantined ones, written once for DuckDB and PostgreSQL.

  The pipeline's staging (ai_roi/lib/staging.py) writes a candidate batch, audits it and
  publishes it in one transaction on its own connection; dbt renders the statements it runs
  there (ai_roi/lib/dbt_sql.py compiles `staging_statements`), with the source catalogue's
  settings written into the SQL. A source's own query is the macro `staging_<source>`
  (order_lines.sql, ticket_events.sql, messages.sql beside this file): it reads `_delivered_ranked`
  and returns every delivered row once, typed, with `broken_rules`, the row rules it breaks (the
  first is why it is held back), after the bookkeeping every staged row carries
  (`staged_bookkeeping`).

  `p`, the settings: the source's catalogue entry (config/sources.yaml: every field, and the
  values its class derives from them), and
  - `source`: the source's name; `delivered_columns`: the columns of raw.<source>__current in
    order (its own columns and the delivery's bookkeeping, `_…`);
  - `personal`: its personal identifiers (lib/pii.py PERSONAL_COLUMNS);
  - `latest_valid_at`: the time of the run (a date after it is in the future).
  tests/integration/test_staging_on_postgres.py stages the same deliveries on both engines and
  compares the staged tables and the quarantine row by row.
-#}

{#- Every statement of a source's staging, by name, as JSON for lib/staging.py. -#}
{% macro staging_statements(p) -%}
    {%- set query = context['staging_' ~ p.source] -%}
    {{ return(tojson({
        'delivered': staging_delivered(p),
        'copies': staging_copies(),
        'delivered_ranked': staging_delivered_ranked(p),
        'candidates': query(p),
        'clean': rules_broken('broken_rules') ~ ' = 0',
        'quarantine_insert': staging_quarantine_insert(p),
    })) }}
{%- endmacro %}

{#- Stops the compile when `p` lacks a setting a query reads. -#}
{% macro require_settings(p, names) -%}
    {%- for name in names if name not in p -%}
        {{ exceptions.raise_compiler_error("the staging of " ~ p.source ~ " reads the setting " ~ name ~ ", which the source's catalogue entry does not have: declare it on its class in ai_roi/sources.py") }}
    {%- endfor -%}
{%- endmacro %}

{#- `_delivered`: the rows in play; with replace_overlap, a month only from its latest delivery. -#}
{% macro staging_delivered(p) -%}
    {%- if p.delivery != 'replace_overlap' -%}
        select * from raw.{{ p.source }}__current
    {%- else -%}
        {%- set month = "date_trunc('month', " ~ parse_timestamp('trim(' ~ adapter.quote(p.period_column) ~ ')', p.timestamp_format) ~ ")" -%}
        with dated as (
            select *, {{ month }} as _month from raw.{{ p.source }}__current
        ),
        covered as (
            select distinct _load_id, _loaded_at, _month from dated where _month is not null
        )
        select {{ quoted_list(p.delivered_columns) }} from dated as d
        where not exists (
            select 1 from covered as c
            where c._month = d._month
              and (c._loaded_at > d._loaded_at
                   or (c._loaded_at = d._loaded_at and c._load_id > d._load_id))
        )
    {%- endif -%}
{%- endmacro %}

{#- Exact copies among the deliveries in play (`_delivered`): each line whose _row_hash repeats,
    ranked from the first delivered one (earliest load, then file and line) on, with the file and
    delivery that brought it first. A line delivered once is not listed: its copy number is 1.
    Ranked apart from the source's query, so that query never sorts the whole delivery with all
    its columns, only these few narrow rows. -#}
{% macro staging_copies() -%}
    select
        _load_id,
        _source_file,
        _row_number,
        row_number() over first_delivered as _copy_number,
        first_value(_source_file) over first_delivered as _first_file,
        first_value(_load_id) over first_delivered as _first_load
    from _delivered
    where _row_hash in (select _row_hash from _delivered group by _row_hash having count(*) > 1)
    window first_delivered as (
        partition by _row_hash order by _loaded_at, _load_id, _source_file nulls last, _row_number
    )
{%- endmacro %}

{#- The deliveries in play as a source's query reads them: every column as delivered, and beside it
    - `_delivered_row`: the row as delivered, kept for the quarantine (`delivered_record`);
    - `_longest_value`: the length of its longest value, bookkeeping (`_…`) left out;
    - `_copy_number`, `_first_file`, `_first_load`: its rank among its exact copies and the file
      and delivery that brought the first one (`_copies`; a row delivered once is its own first). -#}
{% macro staging_delivered_ranked(p) -%}
    select
        delivered.*,
        {{ delivered_record('delivered', p.delivered_columns) }} as _delivered_row,
        {{ longest_value(own_columns(p)) }} as _longest_value,
        coalesce(copies._copy_number, 1) as _copy_number,
        coalesce(copies._first_file, delivered._source_file) as _first_file,
        coalesce(copies._first_load, delivered._load_id) as _first_load
    from _delivered as delivered
    left join _copies as copies
        on copies._load_id = delivered._load_id
        and copies._source_file is not distinct from delivered._source_file
        and copies._row_number = delivered._row_number
{%- endmacro %}

{#- The delivered columns that are the source's own (not the delivery's bookkeeping, `_…`). -#}
{% macro own_columns(p) -%}
    {%- set own = [] -%}
    {%- for c in p.delivered_columns if not c.startswith('_') -%}{%- do own.append(c) -%}{%- endfor -%}
    {{ return(own) }}
{%- endmacro %}

{#- The bookkeeping a source's query passes from `_delivered_ranked` to its last step. -#}
{% macro delivered_bookkeeping(p) -%}
    {%- set names = [] -%}
    {%- for c in p.delivered_columns if c.startswith('_') -%}{%- do names.append(c) -%}{%- endfor -%}
    {{ (names + ['_delivered_row', '_longest_value', '_copy_number', '_first_file', '_first_load']) | join(', ') }}
{%- endmacro %}

{#- The first columns of every staged row, before the source's own, in its query's last step:
    where the row came from (its delivery, file, partition, line, and line within the delivery);
    `_record`, the row as delivered, where it breaks a rule (for the quarantine); `broken_rules`;
    `_duplicate_of`, the delivery that brought a copy first, where that is an earlier one. -#}
{% macro staged_bookkeeping() -%}
    _load_id,
    _source_file,
    _partition,
    _row_number,
    coalesce(_delivery_row, _row_number) as _delivery_row,
    case when {{ rules_broken('broken_rules') }} > 0 then {{ record_json('_delivered_row') }} end as _record,
    broken_rules,
    case when _copy_number > 1 and _first_load <> _load_id then _first_load end as _duplicate_of
{%- endmacro %}

{#- The rule an exact copy of a delivered row breaks: brought first by an earlier delivery (an
    overlapping or re-cut export), delivered in another file of the same delivery, or repeated in
    its own file; null for the first of its copies. The names are the source's quarantine rules. -#}
{% macro copy_rule(in_earlier_delivery, in_other_file, in_same_file) -%}
    case
        when _copy_number > 1 and _first_load <> _load_id then '{{ in_earlier_delivery }}'
        when _copy_number > 1 and _first_file <> _source_file then '{{ in_other_file }}'
        when _copy_number > 1 then '{{ in_same_file }}'
    end
{%- endmacro %}

{#- Every candidate row that broke a rule into the quarantine, with its delivered values as they
    may leave raw (protect_record, lib/pii.py): personal identifiers pseudonymised, personal data
    in free text redacted; the clear values stay in the raw layer at (load_id, source_row).
    A row held back before for the same rule keeps the run and time it was first held back
    (`_held_before`, lib/staging.py), so staging the same deliveries again changes nothing.
    `$run_id` is bound when it runs. -#}
{% macro staging_quarantine_insert(p) -%}
    insert into quarantine.rows
    select
        {{ text_literal(p.source) }} as source,
        c._load_id as load_id,
        coalesce(held.run_id, $run_id) as run_id,
        c._source_file as source_file,
        c._partition as partition,
        c._row_number as source_row,
        c.broken_rules[1] as rule,
        r.dimension,
        r.reason || coalesce(' (first delivered in delivery ' || c._duplicate_of || ')', '') as reason,
        c.broken_rules as all_rules,
        {{ privacy_function('protect_record') }}(c._record, {{ text_array(p.personal) }}) as record,
        coalesce(held.quarantined_at, cast(current_timestamp as timestamp)) as quarantined_at
    from _candidates as c
    inner join _rules as r on r.name = c.broken_rules[1]
    left join _held_before as held
        on held.load_id = c._load_id
        and held.source_file is not distinct from c._source_file
        and held.source_row = c._row_number
        and held.rule = c.broken_rules[1]
    where {{ rules_broken('c.broken_rules') }} > 0
{%- endmacro %}
