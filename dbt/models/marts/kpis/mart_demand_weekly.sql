-- Units and revenue per product and week (Monday start), net of returns, zero-filled from the
-- product's first sale to the last week of data. Non-product lines (postage, fees) are left out.
-- Rebuilt whole with every build of the monthly period marts (defs/marts/assets.py).
{{ config(tags=['monthly'], meta={'parallel': true}) }}

with order_lines as (
    select * from {{ ref('fct_order_lines') }}
    where is_product
),

data_window as (
    select
        min(invoiced_at) as first_at,
        max(invoiced_at) as last_at,
        min(invoice_week) as first_week,
        max(invoice_week) as last_week
    from order_lines
),

product_weeks as (
    select
        products.stock_code,
        {{ week_series('products.first_week', 'data_window.last_week') }} as week_start
    from (
        select stock_code, min(invoice_week) as first_week
        from order_lines
        group by stock_code
    ) as products
    cross join data_window
),

weekly as (
    select
        stock_code,
        invoice_week as week_start,
        sum(quantity) filter (where line_type = 'sale') as units_sold,
        -sum(quantity) filter (where line_type = 'return') as units_returned,
        sum(line_amount) filter (where line_type = 'sale') as gross_revenue,
        -sum(line_amount) filter (where line_type = 'return') as returned_revenue,
        count(distinct invoice_no) filter (where line_type = 'sale') as orders
    from order_lines
    group by stock_code, invoice_week
)

select
    product_weeks.stock_code,
    product_weeks.week_start,
    coalesce(weekly.units_sold, 0) as units_sold,
    coalesce(weekly.units_returned, 0) as units_returned,
    coalesce(weekly.units_sold, 0) - coalesce(weekly.units_returned, 0) as net_units,
    -- money to the staged amounts' 4 decimals on both engines (a sum of numeric(18, 4) keeps
    -- its scale in DuckDB's type, in PostgreSQL only in each value)
    cast(coalesce(weekly.gross_revenue, 0) as numeric(38, 4)) as gross_revenue,
    cast(coalesce(weekly.returned_revenue, 0) as numeric(38, 4)) as returned_revenue,
    cast(
        coalesce(weekly.gross_revenue, 0) - coalesce(weekly.returned_revenue, 0) as numeric(38, 4)
    ) as net_revenue,
    coalesce(weekly.orders, 0) as orders,
    -- the data starts or ends inside this week, so its totals are not a full week's
    product_weeks.week_start < cast(data_window.first_at as date)
        or product_weeks.week_start + 6 > cast(data_window.last_at as date) as is_partial_week
from product_weeks
cross join data_window
left join weekly using (stock_code, week_start)
order by product_weeks.stock_code, product_weeks.week_start
