-- Support messages: every delivered message once, whitespace trimmed, with the rules it breaks.
with source as (
    -- the deliveries in play (lib/staging.py)
    select * from _delivered_ranked
),

normalised as (
    select
        columns('^_'),  -- the delivery's bookkeeping
        -- a message is a copy of an earlier one of its own split, whatever the other splits hold
        row_number() over (
            partition by _partition, _row_hash order by _row_number
        ) as _copy_in_split,
        clean_text(text, $missing_values) as text_clean,
        clean_text(label, $missing_values) as label,
        text as text_delivered
    from source
),

-- e-mail addresses, phone, card and account numbers never leave the raw layer (lib/pii.py)
redacted as (
    select
        *,
        redact_pii(text_clean) as text,
        coalesce(pii_kinds(text_clean), []) as redacted_pii
    from normalised
),

ruled as (
    select
        *,
        list_filter([
            case when text is null then 'text_missing' end,
            case when label is null then 'label_missing' end,
            case when len($label_set) > 0 and not list_contains($label_set, label) then 'label_unknown' end,
            case
                when length(text) < $min_text_length or length(text) > $max_text_length
                    then 'text_length_out_of_range'
            end,
            case when _copy_in_split > 1 then 'duplicate_message' end
        ], lambda rule: rule is not null) as broken_rules,
        -- the same question worded with other case, punctuation or spacing
        trim(regexp_replace(
            regexp_replace(lower(text), '[!-/:-@\[-`{-~]', '', 'g'), '\s+', ' ', 'g'
        )) as near_duplicate_key
    from redacted
)

select
    columns('^_'),  -- bookkeeping: lib/staging.py keeps what a staged row carries
    broken_rules,
    coalesce(_partition, 'all') || '-' || lpad(_row_number::varchar, 6, '0') as message_id,
    _partition as split,
    text,
    label,
    length(text) as text_length,
    text_clean is distinct from text_delivered as was_trimmed,
    redacted_pii,
    len(redacted_pii) > 0 as has_redacted_pii,
    regexp_matches(text, '[^\x00-\x7F]') as has_non_ascii,
    near_duplicate_key,
    row_number() over (
        partition by _partition, near_duplicate_key, len(broken_rules) = 0 order by _row_number
    ) > 1 as is_near_duplicate,
    -- the same text (ignoring case) in another split: leakage between training and evaluation
    count(distinct _partition) over (partition by lower(text)) > 1 as appears_in_other_split
from ruled
