-- Support KPIs per week (weeks start on Monday). Resolution, SLA, reassignment and reopen figures
-- describe the tickets resolved that week; the backlog counts tickets open at the end of the week.
-- Rebuilt whole with every build of the monthly period marts (defs/marts/assets.py).
{{ config(tags=['monthly']) }}

with tickets as (
    select * from {{ ref('fct_support_tickets') }}
),

bounds as (
    select
        min(opened_week) as first_week,
        greatest(max(opened_week), coalesce(max(resolved_week), max(opened_week))) as last_week
    from tickets
),

weeks as (
    select {{ week_series('first_week', 'last_week') }} as week_start
    from bounds
),

opened as (
    select opened_week as week_start, count(*) as tickets_opened
    from tickets
    group by opened_week
),

resolved as (
    select
        resolved_week as week_start,
        count(*) as tickets_resolved,
        {{ median('resolution_hours') }} as median_resolution_hours,
        {{ quantile_cont('resolution_hours', 0.9) }} as p90_resolution_hours,
        avg(case when made_sla then 1.0 else 0.0 end) * 100 as sla_attainment_pct,
        avg(case when was_reassigned then 1.0 else 0.0 end) * 100 as reassignment_rate_pct,
        avg(case when was_reopened then 1.0 else 0.0 end) * 100 as reopen_rate_pct
    from tickets
    where resolved_week is not null
    group by resolved_week
),

backlog as (
    select
        weeks.week_start,
        count(tickets.ticket_id) as open_backlog
    from weeks
    left join tickets
        on tickets.opened_at < {{ dbt.dateadd('day', 7, 'weeks.week_start') }}
        and (tickets.resolved_at is null or tickets.resolved_at >= {{ dbt.dateadd('day', 7, 'weeks.week_start') }})
    group by weeks.week_start
)

select
    weeks.week_start,
    coalesce(opened.tickets_opened, 0) as tickets_opened,
    coalesce(resolved.tickets_resolved, 0) as tickets_resolved,
    {{ round_double('resolved.median_resolution_hours', 2) }} as median_resolution_hours,
    {{ round_double('resolved.p90_resolution_hours', 2) }} as p90_resolution_hours,
    {{ round_double('resolved.sla_attainment_pct', 2) }} as sla_attainment_pct,
    {{ round_double('resolved.reassignment_rate_pct', 2) }} as reassignment_rate_pct,
    {{ round_double('resolved.reopen_rate_pct', 2) }} as reopen_rate_pct,
    backlog.open_backlog
from weeks
left join opened using (week_start)
left join resolved using (week_start)
left join backlog using (week_start)
order by weeks.week_start
