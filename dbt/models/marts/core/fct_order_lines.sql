-- Every clean order line, sales positive and returns negative; guests kept (customer_key null).
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
)

select * from final
