{#- The warehouse's privacy functions, for lib/pii.py: `redact_pii(text)`, `pii_kinds(text)` (the
    kinds found, a list), `pseudonymise(text)` (keyed HMAC-SHA256) and
    `protect_record(record json, personal text[])`, the one way a row leaves raw.

    `spec` (lib.pii.privacy_spec): the patterns in the order they redact, each with its kind and
    replacement; the pseudonym's prefix and length; the session setting holding the key on
    PostgreSQL; the schema the functions live in there. The answer is a JSON object of the
    statements that create each function, in the order they must run. DuckDB's are temporary macros
    on the connection, and its `pseudonymise` is a Python function the pipeline registers
    (lib.staging.register_pseudonymiser); PostgreSQL's live in the `privacy` schema, the
    pseudonym from pgcrypto, and the key is never in a body: it is the session's setting.
    tests/integration/test_privacy_on_postgres.py compares both engines' values. -#}
{% macro privacy_functions(spec) -%}
    {{ return(tojson(adapter.dispatch('privacy_functions')(spec))) }}
{%- endmacro %}

{#- `value` with every pattern's matches replaced, one pattern after the other. -#}
{% macro redaction(value, patterns) -%}
    {%- set ns = namespace(sql=value) -%}
    {%- for p in patterns -%}
        {%- set ns.sql = "regexp_replace(" ~ ns.sql ~ ", " ~ text_literal(p.pattern) ~ ", " ~ text_literal(p.replacement) ~ ", 'g')" -%}
    {%- endfor -%}
    {{ ns.sql }}
{%- endmacro %}

{% macro default__privacy_functions(spec) -%}
    {%- set s = spec.schema -%}
    {%- set kinds -%}
        {%- for p in spec.patterns -%}
            case when value ~ {{ text_literal(p.pattern) }} then {{ text_literal(p.kind) }} end{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endset -%}
    {%- set pseudonym -%}
        {{ text_literal(spec.prefix) }} || left(encode(hmac(value, current_setting({{ text_literal(spec.key_setting) }}), 'sha256'), 'hex'), {{ spec.hex_chars }})
    {%- endset -%}
    {%- set bodies = {
        'redact_pii': ('redact_pii(value text) returns text', 'immutable', redaction('value', spec.patterns)),
        'pii_kinds': ('pii_kinds(value text) returns text[]', 'immutable', 'array_remove(array[' ~ kinds ~ '], null)'),
        'pseudonymise': ('pseudonymise(value text) returns text', 'stable', pseudonym),
        'protect_record': ('protect_record(record json, personal text[]) returns json', 'stable',
            'coalesce((select json_object_agg(key, case when key = any(personal) then ' ~ s ~ '.pseudonymise(value) else '
            ~ s ~ ".redact_pii(value) end order by ordinality) from json_each_text(record) with ordinality), '{}'::json)"),
    } -%}
    {%- set statements = {} -%}
    {%- for name, f in bodies.items() -%}
        {%- do statements.update({name: 'create or replace function ' ~ s ~ '.' ~ f[0] ~ ' language sql ' ~ f[1]
            ~ ' set search_path = ' ~ s ~ ', public as $fn$ select ' ~ f[2] ~ ' $fn$'}) -%}
    {%- endfor -%}
    {{ return(statements) }}
{%- endmacro %}

{% macro duckdb__privacy_functions(spec) -%}
    {%- set kinds -%}
        {%- for p in spec.patterns -%}
            case when regexp_matches(value, {{ text_literal(p.pattern) }}) then {{ text_literal(p.kind) }} end{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endset -%}
    {%- set protect -%}
        to_json(map_from_entries(list_transform(json_keys(record), lambda k: {
            'k': k,
            'v': case
                when list_contains(personal, k)
                    then pseudonymise(json_extract_string(record, '$."' || k || '"'))
                else redact_pii(json_extract_string(record, '$."' || k || '"'))
            end
        })))
    {%- endset -%}
    {{ return({
        'redact_pii': 'create or replace temp macro redact_pii(value) as (' ~ redaction('value', spec.patterns) ~ ')',
        'pii_kinds': 'create or replace temp macro pii_kinds(value) as (list_filter([' ~ kinds ~ '], lambda k: k is not null))',
        'protect_record': 'create or replace temp macro protect_record(record, personal) as (' ~ protect ~ ')',
    }) }}
{%- endmacro %}
