-- Headline figures of staged.tickets, shown on the asset so a reader can compare them with the source.
select
    count(*) as tickets,
    count(*) filter (where is_resolved) as resolved,
    count(*) filter (where reassignment_count > 0) as reassigned,
    count(*) filter (where reopen_count > 0) as reopened,
    count(*) filter (where not made_sla) as missed_sla,
    round(median(date_diff('minute', opened_at, final_resolved_at_reported) / 60.0), 1)
        as median_resolution_hours,
    count(*) filter (where final_resolved_at_reported is null) as final_event_without_resolved_at,
    count(*) filter (where priority_changed) as priority_changed,
    count(*) filter (where category_changed) as category_changed,
    (
        select sum(n) from (
            select count(*) as n from staged.tickets group by date_trunc('month', opened_at)
            order by n desc limit 3
        )
    ) as tickets_in_busiest_3_months,
    (
        select round(100.0 * max(n) / sum(n), 1) from (
            select count(*) as n from staged.ticket_events group by contact_type
        )
    ) as events_top_contact_type_pct,
    (
        select round(100.0 * max(n) / sum(n), 1) from (
            select count(*) as n from staged.ticket_events group by priority
        )
    ) as events_top_priority_pct
from staged.tickets
