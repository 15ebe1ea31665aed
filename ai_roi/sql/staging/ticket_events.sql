-- Ticket events: every delivered update of a ticket once, typed, with the row-level rules it breaks.
-- People are pseudonymised here; their raw identifiers stay in the raw layer only.
with source as (
    -- the deliveries in play, each row with its rank among its exact copies (lib/staging.py)
    select * from _delivered_ranked
),

normalised as (
    select
        -- the delivery's bookkeeping, with each row's rank among its exact copies
        columns('^_'),
        clean_text(ticket_id, $missing_values) as ticket_id,
        clean_text(state, $missing_values) as state,
        clean_text(is_active, $missing_values) as is_active_text,
        clean_text(reassignment_count, $missing_values) as reassignment_count_text,
        clean_text(reopen_count, $missing_values) as reopen_count_text,
        clean_text(update_count, $missing_values) as update_count_text,
        clean_text(made_sla, $missing_values) as made_sla_text,
        clean_text(caller_id, $missing_values) as caller_id,
        clean_text(opened_by, $missing_values) as opened_by,
        clean_text(opened_at, $missing_values) as opened_at_text,
        clean_text(created_by, $missing_values) as created_by,
        clean_text(created_at, $missing_values) as created_at_text,
        clean_text(updated_by, $missing_values) as updated_by,
        clean_text(updated_at, $missing_values) as updated_at_text,
        clean_text(contact_type, $missing_values) as contact_type,
        clean_text(location, $missing_values) as location,
        clean_text(category, $missing_values) as category,
        clean_text(subcategory, $missing_values) as subcategory,
        clean_text(symptom, $missing_values) as symptom,
        clean_text(impact, $missing_values) as impact,
        clean_text(urgency, $missing_values) as urgency,
        clean_text(priority, $missing_values) as priority,
        clean_text(assignment_group, $missing_values) as assignment_group,
        clean_text(assigned_to, $missing_values) as assigned_to,
        clean_text(knowledge, $missing_values) as knowledge_text,
        clean_text(closed_code, $missing_values) as closed_code,
        clean_text(resolved_by, $missing_values) as resolved_by,
        clean_text(resolved_at, $missing_values) as resolved_at_text,
        clean_text(closed_at, $missing_values) as closed_at_text
    from source
),

typed as (
    select
        *,
        parse_flag(is_active_text, $true_values, $false_values) as is_active,
        parse_flag(made_sla_text, $true_values, $false_values) as made_sla,
        parse_flag(knowledge_text, $true_values, $false_values) as knowledge,
        try_cast(parse_integer(reassignment_count_text) as integer) as reassignment_count,
        try_cast(parse_integer(reopen_count_text) as integer) as reopen_count,
        try_cast(parse_integer(update_count_text) as integer) as update_count,
        try_strptime(opened_at_text, $timestamp_format) as opened_at,
        try_strptime(created_at_text, $timestamp_format) as created_at,
        try_strptime(updated_at_text, $timestamp_format) as updated_at,
        try_strptime(resolved_at_text, $timestamp_format) as resolved_at,
        try_strptime(closed_at_text, $timestamp_format) as closed_at
    from normalised
),

ruled as (
    select
        *,
        list_filter([
            case when ticket_id is null then 'ticket_id_missing' end,
            case when state is null or not list_contains($valid_states, state) then 'state_invalid' end,
            case when opened_at is null then 'opened_at_unparseable' end,
            case when updated_at is null then 'updated_at_unparseable' end,
            case
                when resolved_at_text is not null and resolved_at is null
                    or closed_at_text is not null and closed_at is null
                    then 'resolution_time_unparseable'
            end,
            case
                when reassignment_count_text is not null and reassignment_count is null
                    or reopen_count_text is not null and reopen_count is null
                    or update_count_text is not null and update_count is null
                    then 'count_not_integer'
            end,
            case when made_sla is null then 'made_sla_not_boolean' end,
            case
                when opened_at < $earliest_valid_date or updated_at < $earliest_valid_date
                    or opened_at > $latest_valid_at or updated_at > $latest_valid_at
                    then 'event_time_out_of_range'
            end,
            case when updated_at < opened_at then 'updated_before_opened' end,
            copy_rule(
                _copy_number, _first_load, _load_id, _first_file, _source_file,
                'event_in_earlier_delivery', 'event_in_other_file', 'duplicate_event'
            ),
            case when _longest_value > $max_text_length then 'value_too_long' end
        ], lambda rule: rule is not null) as broken_rules
    from typed
)

select
    columns('^_'),  -- bookkeeping: lib/staging.py keeps what a staged row carries
    broken_rules,
    ticket_id,
    -- the log's own order breaks ties between updates logged in the same minute
    row_number() over (
        partition by ticket_id order by updated_at, update_count, _loaded_at, _row_number
    ) as event_seq,
    state,
    list_contains($resolved_states, state) as is_resolved_state,
    list_contains($closed_states, state) as is_closed_state,
    is_active,
    reassignment_count,
    reopen_count,
    update_count,
    made_sla,
    pseudonymise(caller_id) as caller_key,
    pseudonymise(opened_by) as opened_by_key,
    opened_at,
    pseudonymise(created_by) as created_by_key,
    created_at,
    pseudonymise(updated_by) as updated_by_key,
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
    pseudonymise(assigned_to) as assigned_to_key,
    knowledge,
    closed_code,
    pseudonymise(resolved_by) as resolved_by_key,
    -- as reported on the event; the log fills these with final values on every event (leakage)
    resolved_at as resolved_at_reported,
    closed_at as closed_at_reported,
    -- only what was already true when the event was logged
    case when resolved_at <= updated_at then resolved_at end as resolved_at_known
from ruled
