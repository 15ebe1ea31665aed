{#-
  Reading delivered text as typed values, alike on DuckDB and PostgreSQL.

  A delivered value that does not parse becomes null (and its row breaks a rule), never an error
  that stops the build: PostgreSQL has no try_cast and no try_strptime, so each parse matches the
  text first and converts only what matched. tests/integration/test_parsing_on_postgres.py runs
  them on both engines over the real files' values and holds them to Python's own parsing.
-#}

{#- The timestamp `value` (text) holds in the strftime `format`, as Python's
    `datetime.strptime(value, format)` reads it, or null where Python raises: the whole text must
    match, letters in either case, a space in the format stands for a run of whitespace, and the
    date must exist (no 30 February, no second 60); fields the format lacks are Python's defaults
    (1900-01-01 00:00:00). Directives: %Y %m %d %H %M %S and %%.

    Traps: DuckDB's try_strptime alone reads a year of one to three digits ('10' is the year 10,
    '0' is 1 BC) and skips leading whitespace; PostgreSQL's to_timestamp raises on bad text and
    reads another format language. PostgreSQL pulls a plain subquery up into its caller, so every
    `g[i]` ran the match again (about 13 matches a value, 180 µs a row): `offset 0` keeps the
    subquery whole, matched once. -#}
{% macro parse_timestamp(value, format) -%}
    {{ return(adapter.dispatch('parse_timestamp')(value, strptime_pattern(format))) }}
{%- endmacro %}

{% macro default__parse_timestamp(value, parsed) -%}
    {%- set field = {} -%}
    {%- set defaults = {'year': 1900, 'month': 1, 'day': 1, 'hour': 0, 'minute': 0, 'second': 0} -%}
    {%- for name, default in defaults.items() -%}
        {%- if name in parsed.fields -%}
            {%- do field.update({name: 'cast(trim(g[' ~ (parsed.fields.index(name) + 1) ~ ']) as integer)'}) -%}
        {%- else -%}
            {%- do field.update({name: default}) -%}
        {%- endif -%}
    {%- endfor -%}
    (select case
        when {{ field.second }} < 60
            and {{ field.day }} <= extract(day from {{ dbt.last_day('make_date(' ~ field.year ~ ', ' ~ field.month ~ ', 1)', 'month') }})
        then make_timestamp({{ field.year }}, {{ field.month }}, {{ field.day }}, {{ field.hour }}, {{ field.minute }}, {{ field.second }})
    end from (select regexp_match(lower({{ value }}), '^{{ parsed.pattern }}$') as g offset 0) as parts where g is not null)
{%- endmacro %}

{% macro duckdb__parse_timestamp(value, parsed) -%}
    case when regexp_full_match(lower({{ value }}), '{{ parsed.pattern }}')
        then try_strptime(lower({{ value }}), '{{ parsed.strftime }}') end
{%- endmacro %}

{#- `format` taken apart: `pattern`, the regular expression of the texts Python reads with it
    (a capture group per field); `fields`, the field of each group; `strftime`, the format with
    its letters in lower case. A directive Python reads that this does not stops the compile. -#}
{% macro strptime_pattern(format) -%}
    {%- set directives = {
        '%Y': ('year', '000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3}'),
        '%m': ('month', '1[0-2]|0[1-9]|[1-9]'),
        '%d': ('day', '3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9]'),
        '%H': ('hour', '2[0-3]|[0-1][0-9]|[0-9]'),
        '%M': ('minute', '[0-5][0-9]|[0-9]'),
        '%S': ('second', '6[0-1]|[0-5][0-9]|[0-9]'),
    } -%}
    {%- set state = namespace(pattern='', strftime='', fields=[], i=0) -%}
    {%- for _ in range(format | length) -%}
        {%- if state.i < format | length -%}
            {%- set two = format[state.i:state.i + 2] -%}
            {%- set char = format[state.i] -%}
            {%- if two == '%%' -%}
                {%- set state.pattern = state.pattern ~ '%' -%}
                {%- set state.strftime = state.strftime ~ '%%' -%}
                {%- set state.i = state.i + 2 -%}
            {%- elif char == '%' -%}
                {%- if two not in directives -%}
                    {{ exceptions.raise_compiler_error("parse_timestamp reads the strftime directives " ~ (directives.keys() | list | join(' ')) ~ " and %%, not " ~ two ~ " (in the format " ~ format ~ ")") }}
                {%- endif -%}
                {%- set state.pattern = state.pattern ~ '(' ~ directives[two][1] ~ ')' -%}
                {%- set state.strftime = state.strftime ~ two -%}
                {%- set state.fields = state.fields + [directives[two][0]] -%}
                {%- set state.i = state.i + 2 -%}
            {%- elif char in ' \t\n\r\f\v' -%}
                {%- set state.pattern = state.pattern ~ '\\s+' -%}
                {%- set state.strftime = state.strftime ~ ' ' -%}
                {%- set state.i = state.i + 1 -%}
            {%- elif char.isalnum() -%}
                {%- set state.pattern = state.pattern ~ (char | lower) -%}
                {%- set state.strftime = state.strftime ~ (char | lower) -%}
                {%- set state.i = state.i + 1 -%}
            {%- else -%}
                {%- set state.pattern = state.pattern ~ '\\' ~ char -%}
                {%- set state.strftime = state.strftime ~ char -%}
                {%- set state.i = state.i + 1 -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({
        'pattern': state.pattern | replace("'", "''"),
        'fields': state.fields,
        'strftime': state.strftime | replace("'", "''"),
    }) }}
{%- endmacro %}

{#- A list of texts written in the SQL, for `in (…)`; `null` matches nothing where it is empty. -#}
{% macro text_list(values) -%}
    {%- if values | length == 0 -%}
        (null)
    {%- else -%}
        ({%- for v in values -%}'{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%})
    {%- endif -%}
{%- endmacro %}

{#- `value` without the whitespace around it (tab, line feed, form feed, carriage return and
    space: the characters of \s, not only spaces). -#}
{% macro trim_space(value) -%}
    {{ return(adapter.dispatch('trim_space')(value)) }}
{%- endmacro %}
{% macro default__trim_space(value) -%}
    btrim({{ value }}, chr(9) || chr(10) || chr(12) || chr(13) || ' ')
{%- endmacro %}
{% macro duckdb__trim_space(value) -%}
    trim({{ value }}, chr(9) || chr(10) || chr(12) || chr(13) || ' ')
{%- endmacro %}

{#- The text trimmed, or null where it is empty or one of the source's `missing_tokens`. -#}
{% macro clean_text(value, missing_tokens) -%}
    case
        when {{ trim_space(value) }} = '' or {{ trim_space(value) }} in {{ text_list(missing_tokens) }} then null
        else {{ trim_space(value) }}
    end
{%- endmacro %}

{#- A yes/no flag in the source's own spellings (given in lower case; the value in any case);
    other spellings are null. -#}
{% macro parse_flag(value, true_values, false_values) -%}
    case
        when lower({{ value }}) in {{ text_list(true_values) }} then true
        when lower({{ value }}) in {{ text_list(false_values) }} then false
    end
{%- endmacro %}

{#- A whole number exactly as written, or null: never rounded. '1.5', '1e3', '1,000', 'NaN' and
    'inf' are not whole numbers (a cast would round the first and read the others); a trailing
    '.0' is allowed. Eighteen digits at most, so the value always fits a bigint. -#}
{% macro parse_integer(value) -%}
    case
        when {{ regex_full_match(value, '[+-]?[0-9]{1,18}') }} then {{ checked_cast(value, 'bigint') }}
        when {{ regex_full_match(value, '[+-]?[0-9]{1,18}\\.0+') }} then {{ checked_cast("split_part(" ~ value ~ ", '.', 1)", 'bigint') }}
    end
{%- endmacro %}

{#- A decimal number in plain notation that fits decimal(18, 4) exactly, or null: no exponent, no
    thousands separator, no NaN or infinity, at most 14 integer digits and 4 decimals. Trap: a
    CASE in PostgreSQL drops the precision and scale of its branches (an unconstrained numeric
    came out), so the cast is outside it too. -#}
{% macro parse_decimal(value) -%}
    cast(case
        when {{ regex_full_match(value, '[+-]?([0-9]{1,14}(\\.[0-9]{0,4})?|\\.[0-9]{1,4})') }}
            then {{ checked_cast(value, 'decimal(18, 4)') }}
    end as decimal(18, 4))
{%- endmacro %}

{#- A cast of text a pattern has matched already: DuckDB's try_cast, a plain cast on PostgreSQL
    (which has no try_cast; the pattern keeps it from failing). -#}
{% macro checked_cast(value, type) -%}
    {{ return(adapter.dispatch('checked_cast')(value, type)) }}
{%- endmacro %}
{% macro default__checked_cast(value, type) -%}
    cast({{ value }} as {{ type }})
{%- endmacro %}
{% macro duckdb__checked_cast(value, type) -%}
    try_cast({{ value }} as {{ type }})
{%- endmacro %}

{#- The length of the longest of `columns`' values (0 where all are null). -#}
{% macro longest_value(columns) -%}
    greatest({%- for c in columns -%}coalesce(length({{ adapter.quote(c) }}), 0){{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- The names of the rules a row breaks, from `rules` (one SQL expression per rule, each the
    rule's name or null), nulls left out, in order: the first is why the row is held back. -#}
{% macro broken_rules(rules) -%}
    {{ return(adapter.dispatch('broken_rules')(rules)) }}
{%- endmacro %}
{% macro default__broken_rules(rules) -%}
    array_remove(array[{{ rules | join(', ') }}]::text[], null)
{%- endmacro %}
{% macro duckdb__broken_rules(rules) -%}
    list_filter([{{ rules | join(', ') }}], lambda rule: rule is not null)
{%- endmacro %}

{#- How many rules a row breaks (`broken_rules`). Trap: PostgreSQL's array_length of an empty
    array is null, not 0. -#}
{% macro rules_broken(list) -%}
    {{ return(adapter.dispatch('rules_broken')(list)) }}
{%- endmacro %}
{% macro default__rules_broken(list) -%}
    coalesce(array_length({{ list }}, 1), 0)
{%- endmacro %}
{% macro duckdb__rules_broken(list) -%}
    len({{ list }})
{%- endmacro %}
