-- One row per known customer (pseudonymised); guest orders have no customer and are left out.
-- Rebuilt whole with every build of the monthly period marts (defs/marts/assets.py).
{{ config(tags=['monthly'], meta={'parallel': true}) }}

with order_lines as (
    select * from {{ ref('stg_erp__order_lines') }}
    where customer_key is not null
),

countries as (
    select customer_key, country, count(*) as lines
    from order_lines
    where country is not null
    group by customer_key, country
),

home_country as (
    select
        customer_key,
        {{ first_by('country', 'lines desc, country') }} as country,
        count(*) as countries_seen
    from countries
    group by customer_key
),

activity as (
    select
        customer_key,
        min(invoiced_at) as first_order_at,
        max(invoiced_at) as last_order_at,
        count(distinct invoice_no) filter (where line_type = 'sale') as invoices,
        count(distinct invoice_no) filter (where line_type = 'return') as return_invoices,
        sum(line_amount) as net_revenue
    from order_lines
    group by customer_key
)

select
    activity.customer_key,
    home_country.country,
    coalesce(home_country.countries_seen, 0) as countries_seen,
    activity.first_order_at,
    activity.last_order_at,
    activity.invoices,
    activity.return_invoices,
    activity.net_revenue
from activity
left join home_country using (customer_key)
order by activity.customer_key
