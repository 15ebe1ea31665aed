-- Monthly cash flow of every scenario, on three money axes, without AI (baseline) and with it.
-- Month 0 books the build; months 1..horizon run. Productivity is not money here: the agent time
-- it frees is the cost-reduction axis, counted once (see mart_roi_summary for its KPIs).
{{ config(materialized='table') }}

with scenarios as (
    select * from {{ source('roi', 'scenarios') }}
),

measured as (
    select * from {{ ref('int_roi__measured') }}
),

rates as (
    select
        s.scenario_id,
        s.scenario_kind,
        s.horizon_months,
        coalesce(s.tickets_per_month, m.tickets_per_month_measured) * s.volume_factor as tickets,
        -- tickets answered automatically and correctly; a wrong auto answer still needs a person
        least(1.0, m.automation_rate * s.automation_factor) * m.auto_precision as ai_share,
        s.minutes_per_ticket / 60.0 * s.agent_cost_per_hour as labour_per_ticket,
        s.messages_per_ticket * s.tokens_per_message / 1000.0 * s.price_per_1k_tokens
            as api_per_ticket,
        s.monthly_run_cost,
        s.build_cost,
        -- stock-outs lose the margin; excess stock costs its holding rate for the weeks carried
        s.order_currency_rate * 52.0 / 12.0 / m.backtest_weeks as weekly_to_monthly,
        s.product_margin,
        (1 - s.product_margin) * s.holding_cost_rate * s.weeks_excess_held / 52.0 as excess_rate,
        m.short_value_model,
        m.short_value_naive,
        m.excess_value_model,
        m.excess_value_naive,
        m.bad_rows_per_month * s.bad_decision_rate * s.bad_decision_cost as bad_data_cost,
        (1 - m.sla_attainment) * s.sla_breach_cost as breach_cost_per_ticket
    from scenarios as s
    cross join measured as m
),

monthly as (
    select
        scenario_id,
        scenario_kind,
        horizon_months,
        -- cost reduction: agent time on tickets the AI answers, against the AI's own costs
        tickets * labour_per_ticket as labour_baseline,
        tickets * (1 - ai_share) * labour_per_ticket as labour_with_ai,
        tickets * api_per_ticket + monthly_run_cost as ai_running_cost,
        build_cost,
        -- revenue: lost margin and holding cost, planned on the naive forecast vs the model
        coalesce(
            (short_value_naive * product_margin + excess_value_naive * excess_rate)
            * weekly_to_monthly, 0
        ) as stock_cost_baseline,
        coalesce(
            (short_value_model * product_margin + excess_value_model * excess_rate)
            * weekly_to_monthly, 0
        ) as stock_cost_with_ai,
        -- risk: decisions on bad rows the checks now stop, and SLA breaches of answered tickets
        bad_data_cost + tickets * breach_cost_per_ticket as risk_cost_baseline,
        tickets * (1 - ai_share) * breach_cost_per_ticket as risk_cost_with_ai
    from rates
),

months as (
    select month from {{ integer_series(0, 120, 't', 'month') }}
),

axes as (
    select
        m.scenario_id,
        m.scenario_kind,
        m.horizon_months,
        cast(n.month as integer) as month,
        a.axis,
        case when n.month = 0 then 0 else case a.axis
            when 'cost_reduction' then labour_baseline
            when 'revenue' then stock_cost_baseline
            when 'risk' then risk_cost_baseline
        end end as baseline_cost,
        case when n.month = 0 then 0 else case a.axis
            when 'cost_reduction' then labour_with_ai
            when 'revenue' then stock_cost_with_ai
            when 'risk' then risk_cost_with_ai
        end end as with_ai_cost,
        -- what the AI itself costs: the build in month 0, API and running costs after
        case when a.axis <> 'cost_reduction' then 0
            when n.month = 0 then build_cost
            else ai_running_cost
        end as ai_cost
    from monthly as m
    inner join months as n on n.month <= m.horizon_months
    cross join (values ('cost_reduction'), ('revenue'), ('risk')) as a(axis)
)

select
    *,
    baseline_cost - with_ai_cost as benefit,
    baseline_cost - with_ai_cost - ai_cost as net_cash_flow
from axes
