-- What the business owner reads: the base case on the four axes, 12-month and horizon ROI,
-- payback, the Monte Carlo band, the measured figures behind them and the FinOps projection.

with base as (
    select * from {{ ref('int_roi__scenario_summary') }} where scenario_kind = 'base'
),

scenario as (
    select * from {{ source('roi', 'scenarios') }} where scenario_kind = 'base'
),

measured as (
    select * from {{ ref('int_roi__measured') }}
),

uncertainty as (
    select
        max(p10) filter (where metric = 'roi_horizon_pct') as roi_horizon_pct_p10,
        max(p50) filter (where metric = 'roi_horizon_pct') as roi_horizon_pct_p50,
        max(p90) filter (where metric = 'roi_horizon_pct') as roi_horizon_pct_p90,
        max(p10) filter (where metric = 'payback_month') as payback_month_p10,
        max(p50) filter (where metric = 'payback_month') as payback_month_p50,
        max(p90) filter (where metric = 'payback_month') as payback_month_p90,
        max(share_paid_back) filter (where metric = 'payback_month') as share_draws_paid_back,
        max(draws) as monte_carlo_draws
    from {{ ref('mart_roi_uncertainty') }}
),

productivity as (
    select
        avg(mean_resolution_hours) filter (where period = 'baseline')
            as mean_resolution_hours_baseline,
        avg(mean_resolution_hours) filter (where period = 'pilot') as mean_resolution_hours_pilot,
        avg(mean_resolution_hours_with_ai) filter (where period = 'pilot')
            as mean_resolution_hours_pilot_with_ai,
        max(tickets_per_agent_hour) as tickets_per_agent_hour_baseline,
        max(tickets_per_agent_hour_with_ai) as tickets_per_agent_hour_with_ai,
        max(share_without_person_with_ai) as share_without_person_with_ai
    from {{ ref('mart_support_productivity_weekly') }}
),

volume as (
    select coalesce(s.tickets_per_month, m.tickets_per_month_measured) as tickets_per_month
    from scenario as s
    cross join measured as m
),

finops as (
    select
        v.tickets_per_month * s.messages_per_ticket * s.tokens_per_message / 1000.0
            * s.price_per_1k_tokens as projected_api_spend_monthly
    from volume as v
    cross join scenario as s
)

select
    s.currency,
    b.horizon_months,
    -- the four axes, first 12 months (productivity as KPIs: its money is the agent time above)
    b.benefit_cost_reduction_12m,
    b.benefit_revenue_12m,
    b.benefit_risk_12m,
    p.tickets_per_agent_hour_baseline,
    p.tickets_per_agent_hour_with_ai,
    p.mean_resolution_hours_baseline,
    p.mean_resolution_hours_pilot,
    p.mean_resolution_hours_pilot_with_ai,
    p.share_without_person_with_ai,
    -- the ROI
    b.benefit_12m,
    b.ai_cost_12m,
    b.net_benefit_12m,
    b.roi_12m_pct,
    b.benefit_horizon,
    b.ai_cost_horizon,
    b.net_benefit_horizon,
    b.roi_horizon_pct,
    b.payback_month,
    u.*,
    -- measured inputs
    v.tickets_per_month,
    s.tickets_per_month is null as tickets_per_month_is_measured,
    m.automation_rate,
    m.in_scope_automation,
    m.in_scope_share,
    m.auto_precision,
    m.routed_messages,
    m.router_model_version,
    m.sla_attainment,
    m.wape_model,
    m.wape_naive,
    m.backtest_weeks,
    m.rows_quarantined,
    m.bad_rows_per_month,
    m.blocking_checks_fired,
    -- FinOps
    f.projected_api_spend_monthly,
    s.monthly_api_budget,
    100 * f.projected_api_spend_monthly / s.monthly_api_budget as api_budget_used_pct,
    s.seed
from base as b
cross join scenario as s
cross join measured as m
cross join uncertainty as u
cross join productivity as p
cross join volume as v
cross join finops as f
