-- One row per stock code, named by its most frequent description.
-- Rebuilt whole with every build of the monthly period marts (defs/marts/assets.py).
{{ config(tags=['monthly'], meta={'parallel': true}) }}

with order_lines as (
    select * from {{ ref('stg_erp__order_lines') }}
),

descriptions as (
    select
        stock_code,
        description,
        count(*) as lines
    from order_lines
    where description is not null
    group by stock_code, description
),

named as (
    select
        stock_code,
        {{ first_by('description', 'lines desc, description') }} as description,
        count(*) as description_variants
    from descriptions
    group by stock_code
),

activity as (
    select
        stock_code,
        bool_or(is_product) as is_product,
        min(invoiced_at) as first_sold_at,
        max(invoiced_at) as last_sold_at,
        sum(quantity) filter (where line_type = 'sale') as units_sold,
        -sum(quantity) filter (where line_type = 'return') as units_returned,
        {{ median('unit_price') }} filter (where line_type = 'sale' and unit_price > 0) as median_unit_price
    from order_lines
    group by stock_code
)

select
    activity.stock_code,
    named.description,
    coalesce(named.description_variants, 0) as description_variants,
    activity.is_product,
    activity.first_sold_at,
    activity.last_sold_at,
    coalesce(activity.units_sold, 0) as units_sold,
    coalesce(activity.units_returned, 0) as units_returned,
    activity.median_unit_price
from activity
left join named using (stock_code)
order by activity.stock_code
