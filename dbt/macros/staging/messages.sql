{#- Support messages: every delivered message once, whitespace trimmed, with the rules it breaks. -#}
{% macro staging_messages(p) -%}
{{ require_settings(p, ['missing_values', 'label_set', 'min_text_length', 'max_text_length']) }}
with source as (
    -- the deliveries in play
    select * from _delivered_ranked
),

normalised as (
    select
        {{ delivered_bookkeeping(p) }},  -- the delivery's bookkeeping
        -- a message is a copy of an earlier one of its own split, whatever the other splits hold
        row_number() over (
            partition by _partition, _row_hash order by _row_number
        ) as _copy_in_split,
        {{ clean_text('text', p.missing_values) }} as text_clean,
        {{ clean_text('label', p.missing_values) }} as label,
        text as text_delivered
    from source
),

-- e-mail addresses, phone, card and account numbers never leave the raw layer (lib/pii.py)
redacted as {{ materialized() }} (
    select
        *,
        {{ privacy_function('redact_pii') }}(text_clean) as text,
        coalesce({{ privacy_function('pii_kinds') }}(text_clean), {{ empty_text_array() }}) as redacted_pii
    from normalised
),

ruled as (
    select
        *,
        {{ broken_rules([
            "case when text is null then 'text_missing' end",
            "case when label is null then 'label_missing' end",
            "case when not " ~ text_in('label', p.label_set) ~ " then 'label_unknown' end"
                if p.label_set | length > 0 else "cast(null as varchar)",
            "case when length(text) < " ~ p.min_text_length ~ " or length(text) > " ~ p.max_text_length
                ~ " then 'text_length_out_of_range' end",
            "case when _copy_in_split > 1 then 'duplicate_message' end",
        ]) }} as broken_rules,
        -- the same question worded with other case, punctuation or spacing
        trim(regexp_replace(
            regexp_replace(lower(text), '[!-/:-@\[-`{-~]', '', 'g'), '\s+', ' ', 'g'
        )) as near_duplicate_key
    from redacted
)

select
    {{ staged_bookkeeping() }},
    coalesce(_partition, 'all') || '-' || lpad(cast(_row_number as varchar), 6, '0') as message_id,
    _partition as split,
    text,
    label,
    cast(length(text) as bigint) as text_length,
    text_clean is distinct from text_delivered as was_trimmed,
    redacted_pii,
    {{ rules_broken('redacted_pii') }} > 0 as has_redacted_pii,
    {{ has_non_ascii('text') }} as has_non_ascii,
    near_duplicate_key,
    row_number() over (
        partition by _partition, near_duplicate_key, {{ rules_broken('broken_rules') }} = 0 order by _row_number
    ) > 1 as is_near_duplicate,
    -- the same text (ignoring case) in another split: leakage between training and evaluation
    -- (two splits where the least and the greatest differ; PostgreSQL counts no distinct values
    -- over a window)
    coalesce(
        min(_partition) over (partition by lower(text)) <> max(_partition) over (partition by lower(text)),
        false
    ) as appears_in_other_split
from ruled
{%- endmacro %}
