-- One row per support ticket with its resolution figures.
-- Monthly by the month a ticket was opened: a partitioned build rewrites its months only.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    tags=['monthly'],
    meta={'parallel': true},
    pre_hook="{{ delete_month_window('opened_at') }}",
) }}

with tickets as (
    select * from {{ ref('stg_crm__tickets') }}
),

final as (
    select
        ticket_id,
        opened_at,
        date_trunc('week', opened_at)::date as opened_week,
        resolved_at,
        date_trunc('week', resolved_at)::date as resolved_week,
        resolved_at_source,
        closed_at,
        final_state,
        is_resolved,
        resolution_hours,
        made_sla,
        reassignment_count > 0 as was_reassigned,
        reopen_count > 0 as was_reopened,
        reassignment_count,
        reopen_count,
        priority,
        initial_priority,
        priority_changed,
        category,
        assignment_group,
        assigned_to_key,
        contact_type,
        event_count
    from tickets
    {% if is_incremental() %}{{ month_window('opened_at') }}{% endif %}
)

select * from final
