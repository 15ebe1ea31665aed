-- Support productivity per week: the baseline weeks as measured, and the pilot (the last
-- `pilot_weeks` weeks) measured and with the router's measured automation applied: tickets per
-- agent-hour, resolution time, share handled without a person.

with tickets as (
    select * from {{ ref('fct_support_tickets') }}
),

scenario as (
    select minutes_per_ticket, pilot_weeks from {{ source('roi', 'scenarios') }}
    where scenario_kind = 'base'
),

measured as (
    select automation_rate * auto_precision as ai_share from {{ ref('int_roi__measured') }}
),

weekly as (
    select
        opened_week as week_start,
        count(*) as tickets_opened,
        avg(resolution_hours) as mean_resolution_hours,
        {{ median('resolution_hours') }} as median_resolution_hours
    from tickets
    group by opened_week
),

last_week as (
    select max(week_start) as week_start from weekly
)

select
    w.week_start,
    case
        when w.week_start > {{ dbt.dateadd('day', '-7 * s.pilot_weeks', 'l.week_start') }} then 'pilot' else 'baseline'
    end as period,
    w.tickets_opened,
    w.mean_resolution_hours,
    w.median_resolution_hours,
    w.tickets_opened * s.minutes_per_ticket / 60.0 as agent_hours,
    60.0 / s.minutes_per_ticket as tickets_per_agent_hour,
    -- with AI: the share answered automatically needs no agent time and waits no hours
    w.tickets_opened * (1 - m.ai_share) * s.minutes_per_ticket / 60.0 as agent_hours_with_ai,
    60.0 / s.minutes_per_ticket / nullif(1 - m.ai_share, 0) as tickets_per_agent_hour_with_ai,
    w.mean_resolution_hours * (1 - m.ai_share) as mean_resolution_hours_with_ai,
    m.ai_share as share_without_person_with_ai
from weekly as w
cross join last_week as l
cross join scenario as s
cross join measured as m
order by w.week_start
