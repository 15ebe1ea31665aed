-- Every clean order line, sales positive and returns negative; guests kept (customer_key null).
-- Monthly by invoice date: a partitioned build rewrites its months only (macros/month_window.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    tags=['monthly'],
    meta={'parallel': true},
    pre_hook="{{ delete_month_window('invoiced_at') }}",
) }}

with order_lines as (
    select * from {{ ref('stg_erp__order_lines') }}
),

final as (
    select
        order_line_id,
        invoice_no,
        stock_code,
        invoiced_at,
        date_trunc('week', invoiced_at)::date as invoice_week,
        line_type,
        quantity,
        unit_price,
        line_amount,
        customer_key,
        country,
        is_guest,
        is_product,
        is_free_of_charge,
        is_extreme_quantity
    from order_lines
    {% if is_incremental() %}{{ month_window('invoiced_at') }}{% endif %}
)

select * from final
