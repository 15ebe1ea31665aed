-- The base case's monthly cash flow per axis, without AI and with it, and the running total.

with cashflow as (
    select * from {{ ref('int_roi__cashflow') }}
    where scenario_kind = 'base'
),

scenario as (
    select currency from {{ source('roi', 'scenarios') }} where scenario_kind = 'base'
),

monthly_net as (
    select month, sum(net_cash_flow) as net_all_axes
    from cashflow
    group by month
),

cumulative as (
    select month, sum(net_all_axes) over (order by month) as cumulative_net_cash_flow
    from monthly_net
)

select
    c.month,
    c.axis,
    s.currency,
    c.baseline_cost,
    c.with_ai_cost,
    c.benefit,
    c.ai_cost,
    c.net_cash_flow,
    k.cumulative_net_cash_flow
from cashflow as c
inner join cumulative as k on c.month = k.month
cross join scenario as s
order by c.month, c.axis
