with source as (
    select * from {{ source('crm', 'tickets') }}
),

renamed as (
    select
        ticket_id,
        opened_at,
        resolved_at,
        resolved_at_source,
        closed_at,
        final_state,
        is_resolved,
        made_sla,
        reassignment_count,
        reopen_count,
        priority,
        initial_priority,
        priority_changed,
        category,
        subcategory,
        assignment_group,
        assigned_to_key,
        contact_type,
        event_count,
        {{ dbt.datediff('opened_at', 'resolved_at', 'minute') }} / 60.0 as resolution_hours
    from source
)

select * from renamed
