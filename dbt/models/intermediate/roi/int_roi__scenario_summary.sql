-- The ROI of each scenario: benefits and AI costs in the first 12 months (month 0, the build,
-- included) and over the horizon; ROI = (benefits - costs) / costs; payback = the first month the
-- cumulative net cash flow is no longer negative. The only place the formula is written.

with cashflow as (
    select * from {{ ref('int_roi__cashflow') }}
),

by_month as (
    select
        scenario_id,
        scenario_kind,
        month,
        max(horizon_months) as horizon_months,
        sum(benefit) as benefit,
        sum(ai_cost) as ai_cost,
        sum(benefit) filter (where axis = 'cost_reduction') as benefit_cost_reduction,
        sum(benefit) filter (where axis = 'revenue') as benefit_revenue,
        sum(benefit) filter (where axis = 'risk') as benefit_risk
    from cashflow
    group by scenario_id, scenario_kind, month
),

cumulative as (
    select
        *,
        sum(benefit - ai_cost) over (partition by scenario_id order by month) as cumulative_net
    from by_month
),

totals as (
    select
        scenario_id,
        scenario_kind,
        max(horizon_months) as horizon_months,
        coalesce(sum(benefit_cost_reduction) filter (where month <= 12), 0)
            as benefit_cost_reduction_12m,
        coalesce(sum(benefit_revenue) filter (where month <= 12), 0) as benefit_revenue_12m,
        coalesce(sum(benefit_risk) filter (where month <= 12), 0) as benefit_risk_12m,
        coalesce(sum(benefit) filter (where month <= 12), 0) as benefit_12m,
        coalesce(sum(ai_cost) filter (where month <= 12), 0) as ai_cost_12m,
        coalesce(sum(benefit) filter (where month <= horizon_months), 0) as benefit_horizon,
        coalesce(sum(ai_cost) filter (where month <= horizon_months), 0) as ai_cost_horizon,
        min(month) filter (where month >= 1 and cumulative_net >= 0) as payback_month
    from cumulative
    group by scenario_id, scenario_kind
)

select
    scenario_id,
    scenario_kind,
    horizon_months,
    benefit_cost_reduction_12m,
    benefit_revenue_12m,
    benefit_risk_12m,
    benefit_12m,
    ai_cost_12m,
    benefit_12m - ai_cost_12m as net_benefit_12m,
    100 * (benefit_12m - ai_cost_12m) / nullif(ai_cost_12m, 0) as roi_12m_pct,
    benefit_horizon,
    ai_cost_horizon,
    benefit_horizon - ai_cost_horizon as net_benefit_horizon,
    100 * (benefit_horizon - ai_cost_horizon) / nullif(ai_cost_horizon, 0) as roi_horizon_pct,
    payback_month
from totals
