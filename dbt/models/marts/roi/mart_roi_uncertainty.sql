-- Monte Carlo over the stated ranges: P10, P50 and P90 of each ROI figure across the draws.
-- A draw that never pays back within the horizon counts as horizon + 1 months.

with draws as (
    select
        s.scenario_id,
        s.seed,
        r.roi_12m_pct,
        r.roi_horizon_pct,
        r.net_benefit_horizon,
        cast(coalesce(r.payback_month, r.horizon_months + 1) as double precision) as payback_month,
        r.payback_month is not null as paid_back
    from {{ source('roi', 'scenarios') }} as s
    inner join {{ ref('int_roi__scenario_summary') }} as r on s.scenario_id = r.scenario_id
    where s.scenario_kind = 'monte_carlo'
),

long as (
    {{ unpivot_columns(
        'draws',
        ['seed', 'paid_back'],
        ['roi_12m_pct', 'roi_horizon_pct', 'net_benefit_horizon', 'payback_month'],
        'metric',
        'value',
    ) }}
)

select
    metric,
    count(*) as draws,
    max(seed) as seed,
    {{ quantile_cont('value', 0.1) }} as p10,
    {{ quantile_cont('value', 0.5) }} as p50,
    {{ quantile_cont('value', 0.9) }} as p90,
    avg(value) as mean,
    avg(paid_back::int) as share_paid_back,
    avg((value > 0)::int) as share_positive
from long
group by metric
order by metric
