-- Tornado data: the base ROI over the horizon with one assumption (or measured rate) moved low
-- and high, the others held. Rank 1 moves the ROI most.

with scenarios as (
    select * from {{ source('roi', 'scenarios') }}
),

summary as (
    select * from {{ ref('int_roi__scenario_summary') }}
),

measured as (
    select * from {{ ref('int_roi__measured') }}
),

base as (
    select roi_horizon_pct, net_benefit_horizon from summary where scenario_kind = 'base'
),

-- the value each scenario gave the assumption it moved; measured rates as the value they stand for
values_used as (
    select
        s.scenario_id,
        s.varied,
        s.direction,
        case s.varied
            when 'tickets_per_month'
                then coalesce(s.tickets_per_month, m.tickets_per_month_measured) * s.volume_factor
            when 'automation_rate' then least(1.0, m.automation_rate * s.automation_factor)
        end as measured_value,
        s.volume_factor,
        s.automation_factor
    from scenarios as s
    cross join measured as m
    where s.scenario_kind = 'sensitivity'
),

sensitivity_scenarios as (
    select * from scenarios where scenario_kind = 'sensitivity'
),

-- every assumption column of the scenarios, one row per scenario and assumption
assumption_values as (
    {{ unpivot_columns(
        'sensitivity_scenarios',
        ['scenario_id'],
        column_names_except(source('roi', 'scenarios'), [
            'scenario_id', 'scenario_kind', 'varied', 'direction', 'draw', 'seed', 'currency',
            'tickets_per_month', 'horizon_months', 'pilot_weeks', 'sensitivity',
            'volume_factor', 'automation_factor',
        ]),
        'assumption',
        'assumption_value',
    ) }}
),

swung as (
    select
        v.varied as assumption,
        v.direction,
        coalesce(v.measured_value, a.assumption_value) as value,
        r.roi_horizon_pct,
        r.net_benefit_horizon
    from values_used as v
    inner join summary as r on v.scenario_id = r.scenario_id
    left join assumption_values as a
        on v.scenario_id = a.scenario_id and v.varied = a.assumption
),

paired as (
    select
        assumption,
        max(value) filter (where direction = 'low') as low_value,
        max(value) filter (where direction = 'high') as high_value,
        max(roi_horizon_pct) filter (where direction = 'low') as roi_horizon_pct_low,
        max(roi_horizon_pct) filter (where direction = 'high') as roi_horizon_pct_high,
        max(net_benefit_horizon) filter (where direction = 'low') as net_benefit_horizon_low,
        max(net_benefit_horizon) filter (where direction = 'high') as net_benefit_horizon_high
    from swung
    group by assumption
)

select
    p.assumption,
    p.low_value,
    p.high_value,
    b.roi_horizon_pct as base_roi_horizon_pct,
    p.roi_horizon_pct_low,
    p.roi_horizon_pct_high,
    abs(p.roi_horizon_pct_high - p.roi_horizon_pct_low) as roi_swing_pct_points,
    p.net_benefit_horizon_low,
    p.net_benefit_horizon_high,
    row_number() over (
        order by abs(p.roi_horizon_pct_high - p.roi_horizon_pct_low) desc, p.assumption
    ) as rank
from paired as p
cross join base as b
order by rank
