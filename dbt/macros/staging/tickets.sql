{#- Tickets: one row per ticket, reduced from its clean events (staged.ticket_events) using what
    each event knew. -#}
{% macro staging_tickets() -%}
with events as (
    select * from staged.ticket_events
),

ordered as (
    select
        *,
        row_number() over (partition by ticket_id order by event_seq desc) as seq_from_last
    from events
),

per_ticket as (
    select
        ticket_id,
        count(*) as event_count,
        min(opened_at) as opened_at,
        min(updated_at) as first_event_at,
        max(updated_at) as last_event_at,
        count(distinct priority) as priority_values,
        count(distinct category) as category_values,
        {{ arg_min('priority', 'event_seq') }} as initial_priority,
        -- last time the ticket was seen in a working state, then when it was next resolved/closed
        max(updated_at) filter (where not (is_resolved_state or is_closed_state)) as last_open_event_at,
        count(*) filter (where is_resolved_state and resolved_at_reported is null) as resolved_events_without_time
    from events
    group by ticket_id
),

resolution_events as (
    select
        e.ticket_id,
        min(e.updated_at) filter (where e.is_resolved_state) as resolved_event_at,
        min(e.updated_at) filter (where e.is_closed_state) as closed_event_at
    from events as e
    inner join per_ticket as p using (ticket_id)
    where p.last_open_event_at is null or e.updated_at >= p.last_open_event_at
    group by e.ticket_id
),

final_event as (
    select * from ordered where seq_from_last = 1
)

select
    f.ticket_id,
    f._load_id,
    p.opened_at,
    p.first_event_at,
    p.last_event_at,
    p.event_count,
    f.state as final_state,
    f.is_resolved_state or f.is_closed_state as is_resolved,
    -- the log's resolution time counts only once the final event says the ticket is resolved;
    -- otherwise the time observed in the event log (first resolved/closed event after the last open one)
    case
        when f.is_resolved_state or f.is_closed_state
            then coalesce(f.resolved_at_reported, r.resolved_event_at, r.closed_event_at)
    end as resolved_at,
    case
        when not (f.is_resolved_state or f.is_closed_state) then null
        when f.resolved_at_reported is not null then 'reported'
        when r.resolved_event_at is not null then 'resolved_event'
        when r.closed_event_at is not null then 'closed_event'
    end as resolved_at_source,
    f.resolved_at_reported as final_resolved_at_reported,
    case when f.is_closed_state then coalesce(r.closed_event_at, f.closed_at_reported) end as closed_at,
    f.made_sla,
    f.reassignment_count,
    f.reopen_count,
    f.priority,
    p.initial_priority,
    p.priority_values > 1 as priority_changed,
    p.category_values > 1 as category_changed,
    f.category,
    f.subcategory,
    f.assignment_group,
    f.assigned_to_key,
    f.caller_key,
    f.contact_type,
    f.impact,
    f.urgency,
    f.knowledge,
    f.closed_code,
    p.resolved_events_without_time
from final_event as f
inner join per_ticket as p using (ticket_id)
left join resolution_events as r using (ticket_id)
{%- endmacro %}
