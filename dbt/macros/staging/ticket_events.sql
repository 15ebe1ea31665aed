{#- Ticket events: every delivered update of a ticket once, typed, with the row-level rules it
    breaks. People are pseudonymised here; their raw identifiers stay in the raw layer only. -#}
{% macro staging_ticket_events(p) -%}
{{ require_settings(p, [
    'missing_values', 'true_values', 'false_values', 'timestamp_format', 'valid_states',
    'earliest_valid_date', 'latest_valid_at', 'max_text_length', 'resolved_states', 'closed_states',
]) }}
{%- set earliest = date_literal(p.earliest_valid_date) -%}
{%- set latest = timestamp_literal(p.latest_valid_at) -%}
with source as (
    -- the deliveries in play, each row with its rank among its exact copies
    select * from _delivered_ranked
),

normalised as (
    select
        -- the delivery's bookkeeping, with each row's rank among its exact copies
        {{ delivered_bookkeeping(p) }},
        {{ clean_text('ticket_id', p.missing_values) }} as ticket_id,
        {{ clean_text('state', p.missing_values) }} as state,
        {{ clean_text('is_active', p.missing_values) }} as is_active_text,
        {{ clean_text('reassignment_count', p.missing_values) }} as reassignment_count_text,
        {{ clean_text('reopen_count', p.missing_values) }} as reopen_count_text,
        {{ clean_text('update_count', p.missing_values) }} as update_count_text,
        {{ clean_text('made_sla', p.missing_values) }} as made_sla_text,
        {{ clean_text('caller_id', p.missing_values) }} as caller_id,
        {{ clean_text('opened_by', p.missing_values) }} as opened_by,
        {{ clean_text('opened_at', p.missing_values) }} as opened_at_text,
        {{ clean_text('created_by', p.missing_values) }} as created_by,
        {{ clean_text('created_at', p.missing_values) }} as created_at_text,
        {{ clean_text('updated_by', p.missing_values) }} as updated_by,
        {{ clean_text('updated_at', p.missing_values) }} as updated_at_text,
        {{ clean_text('contact_type', p.missing_values) }} as contact_type,
        {{ clean_text('location', p.missing_values) }} as location,
        {{ clean_text('category', p.missing_values) }} as category,
        {{ clean_text('subcategory', p.missing_values) }} as subcategory,
        {{ clean_text('symptom', p.missing_values) }} as symptom,
        {{ clean_text('impact', p.missing_values) }} as impact,
        {{ clean_text('urgency', p.missing_values) }} as urgency,
        {{ clean_text('priority', p.missing_values) }} as priority,
        {{ clean_text('assignment_group', p.missing_values) }} as assignment_group,
        {{ clean_text('assigned_to', p.missing_values) }} as assigned_to,
        {{ clean_text('knowledge', p.missing_values) }} as knowledge_text,
        {{ clean_text('closed_code', p.missing_values) }} as closed_code,
        {{ clean_text('resolved_by', p.missing_values) }} as resolved_by,
        {{ clean_text('resolved_at', p.missing_values) }} as resolved_at_text,
        {{ clean_text('closed_at', p.missing_values) }} as closed_at_text
    from source
),

typed as {{ materialized() }} (
    select
        *,
        {{ parse_flag('is_active_text', p.true_values, p.false_values) }} as is_active,
        {{ parse_flag('made_sla_text', p.true_values, p.false_values) }} as made_sla,
        {{ parse_flag('knowledge_text', p.true_values, p.false_values) }} as knowledge,
        {{ to_integer(parse_integer('reassignment_count_text')) }} as reassignment_count,
        {{ to_integer(parse_integer('reopen_count_text')) }} as reopen_count,
        {{ to_integer(parse_integer('update_count_text')) }} as update_count,
        {{ parse_timestamp('opened_at_text', p.timestamp_format) }} as opened_at,
        {{ parse_timestamp('created_at_text', p.timestamp_format) }} as created_at,
        {{ parse_timestamp('updated_at_text', p.timestamp_format) }} as updated_at,
        {{ parse_timestamp('resolved_at_text', p.timestamp_format) }} as resolved_at,
        {{ parse_timestamp('closed_at_text', p.timestamp_format) }} as closed_at
    from normalised
),

ruled as (
    select
        *,
        {{ broken_rules([
            "case when ticket_id is null then 'ticket_id_missing' end",
            "case when state is null or not " ~ text_in('state', p.valid_states) ~ " then 'state_invalid' end",
            "case when opened_at is null then 'opened_at_unparseable' end",
            "case when updated_at is null then 'updated_at_unparseable' end",
            "case when resolved_at_text is not null and resolved_at is null"
                ~ " or closed_at_text is not null and closed_at is null"
                ~ " then 'resolution_time_unparseable' end",
            "case when reassignment_count_text is not null and reassignment_count is null"
                ~ " or reopen_count_text is not null and reopen_count is null"
                ~ " or update_count_text is not null and update_count is null"
                ~ " then 'count_not_integer' end",
            "case when made_sla is null then 'made_sla_not_boolean' end",
            "case when opened_at < " ~ earliest ~ " or updated_at < " ~ earliest
                ~ " or opened_at > " ~ latest ~ " or updated_at > " ~ latest
                ~ " then 'event_time_out_of_range' end",
            "case when updated_at < opened_at then 'updated_before_opened' end",
            copy_rule('event_in_earlier_delivery', 'event_in_other_file', 'duplicate_event'),
            "case when _longest_value > " ~ p.max_text_length ~ " then 'value_too_long' end",
        ]) }} as broken_rules
    from typed
)

select
    {{ staged_bookkeeping() }},
    ticket_id,
    -- the log's own order breaks ties between updates logged in the same minute
    row_number() over (
        partition by ticket_id order by updated_at, update_count nulls last, _loaded_at, _row_number
    ) as event_seq,
    state,
    {{ text_in('state', p.resolved_states) }} as is_resolved_state,
    {{ text_in('state', p.closed_states) }} as is_closed_state,
    is_active,
    reassignment_count,
    reopen_count,
    update_count,
    made_sla,
    {{ privacy_function('pseudonymise') }}(caller_id) as caller_key,
    {{ privacy_function('pseudonymise') }}(opened_by) as opened_by_key,
    opened_at,
    {{ privacy_function('pseudonymise') }}(created_by) as created_by_key,
    created_at,
    {{ privacy_function('pseudonymise') }}(updated_by) as updated_by_key,
    updated_at,
    contact_type,
    location,
    category,
    subcategory,
    symptom,
    impact,
    urgency,
    priority,
    assignment_group,
    {{ privacy_function('pseudonymise') }}(assigned_to) as assigned_to_key,
    knowledge,
    closed_code,
    {{ privacy_function('pseudonymise') }}(resolved_by) as resolved_by_key,
    -- as reported on the event; the log fills these with final values on every event (leakage)
    resolved_at as resolved_at_reported,
    closed_at as closed_at_reported,
    -- only what was already true when the event was logged
    case when resolved_at <= updated_at then resolved_at end as resolved_at_known
from ruled
{%- endmacro %}
