-- Figures the ROI takes from the pipeline, never from a person: ticket volume and resolution, the
-- router's automation at its target precision on the traffic in its scope, the forecaster's
-- errors against the naive baseline in money, and the bad rows the quality checks caught. One row.

with tickets as (
    select * from {{ ref('fct_support_tickets') }}
),

ticket_span as (
    select min(opened_at) as first_at, max(opened_at) as last_at from tickets
),

tickets_by_month as (
    select date_trunc('month', opened_at) as month_start, count(*) as tickets
    from tickets
    group by 1
),

-- months fully inside the data: the first and last months are usually cut
complete_months as (
    select m.*
    from tickets_by_month as m, ticket_span as s
    where m.month_start >= s.first_at
      and {{ dbt.dateadd('month', 1, 'm.month_start') }} <= {{ dbt.dateadd('day', 1, 's.last_at') }}
),

support as (
    select
        count(*) as tickets_total,
        count(*) filter (where is_resolved) as tickets_resolved,
        avg(made_sla::int) filter (where is_resolved) as sla_attainment,
        avg(resolution_hours) filter (where is_resolved) as mean_resolution_hours,
        {{ median('resolution_hours') }} filter (where is_resolved) as median_resolution_hours
    from tickets
),

volume as (
    select
        (select count(*) from complete_months) as complete_months,
        coalesce(
            (select avg(tickets) from complete_months),
            -- under a month of data: scale the days we have to an average month
            {{ divide('(select count(*) from tickets)', "greatest(" ~ dbt.datediff('s.first_at', 's.last_at', 'day') ~ " + 1, 1)") }}
            * 30.4375
        ) as tickets_per_month_measured,
        greatest({{ dbt.datediff('s.first_at', 's.last_at', 'day') }} + 1, 1) / 30.4375 as ticket_months
    from ticket_span as s
),

routed_by_scope as (
    -- automation over the messages of intents the router learnt; the share of traffic that is
    -- in scope is the business's assumption (roi.support.in_scope_share), by default the share
    -- of labelled messages of a learnt intent. The ROI never counts an answer the router should
    -- have left to a person.
    select
        count(*) as routed_messages,
        avg((route = 'auto')::int) filter (where in_scope) as in_scope_automation,
        avg((predicted_intent = labelled_intent)::int) filter (where route = 'auto' and in_scope)
            as auto_precision,
        avg(in_scope::int) as in_scope_share_measured,
        max(model_version) as router_model_version
    from {{ source('ml', 'routed_messages') }}
),

in_scope as (
    select coalesce(s.in_scope_share, r.in_scope_share_measured) as in_scope_share
    from routed_by_scope as r
    cross join (
        select in_scope_share from {{ source('roi', 'scenarios') }} where scenario_id = 'base'
    ) as s
),

routed as (
    select r.*, i.in_scope_share, r.in_scope_automation * i.in_scope_share as automation_rate
    from routed_by_scope as r
    cross join in_scope as i
),

prices as (
    -- average selling price of each product over its history, in the order data's currency
    select stock_code, sum(gross_revenue) / nullif(sum(units_sold), 0) as unit_price
    from {{ ref('mart_demand_weekly') }}
    group by stock_code
),

backtest as (
    -- the one-week-ahead forecast a reorder is planned on; returns do not make demand negative
    select
        b.week_start,
        p.unit_price,
        greatest(b.actual, 0) as actual,
        greatest(b.model, 0) as model,
        greatest(b.naive, 0) as naive
    from {{ source('ml', 'demand_backtest') }} as b
    inner join prices as p on b.stock_code = p.stock_code
    where b.horizon = 1 and p.unit_price is not null
),

forecast as (
    select
        count(distinct week_start) as backtest_weeks,
        sum(actual * unit_price) as actual_value,
        -- demand above the forecast: sales lost to a stock-out
        sum(greatest(actual - model, 0) * unit_price) as short_value_model,
        sum(greatest(actual - naive, 0) * unit_price) as short_value_naive,
        -- forecast above demand: stock bought and carried
        sum(greatest(model - actual, 0) * unit_price) as excess_value_model,
        sum(greatest(naive - actual, 0) * unit_price) as excess_value_naive,
        sum(abs(model - actual)) / nullif(sum(actual), 0) as wape_model,
        sum(abs(naive - actual)) / nullif(sum(actual), 0) as wape_naive
    from backtest
),

order_span as (
    select greatest({{ dbt.datediff('min(invoiced_at)', 'max(invoiced_at)', 'day') }} + 1, 1) / 30.4375 as months
    from {{ ref('fct_order_lines') }}
),

quarantine_by_load as (
    -- A copy of a row delivered in another file (overlapping exports) is counted once already:
    -- holding it back averts no bad decision.
    select
        q.source,
        q.load_id,
        count(*) filter (where coalesce(r.averts_bad_decision, true)) as rows_quarantined,
        row_number() over (partition by q.source order by max(q.quarantined_at) desc) as newest
    from {{ source('quarantine', 'rows') }} as q
    left join {{ source('quarantine', 'rules') }} as r
        on r.source = q.source and r.rule = q.rule
    group by q.source, q.load_id
),

latest_quarantine as (
    -- the current delivery of each source: its latest load
    select source, load_id, rows_quarantined from quarantine_by_load where newest = 1
),

quarantine as (
    select
        coalesce(sum(rows_quarantined), 0) as rows_quarantined,
        -- bad rows a month: order rows over the order data's months, the rest over the tickets'
        coalesce(sum(
            rows_quarantined / case
                when source = 'order_lines' then (select months from order_span)
                else (select ticket_months from volume)
            end
        ), 0) as bad_rows_per_month
    from latest_quarantine
),

incidents as (
    select count(*) as blocking_checks_fired
    from {{ source('quality', 'check_results') }}
    where not passed and severity = 'ERROR'
)

select *
from support, volume, routed, forecast, quarantine, incidents
