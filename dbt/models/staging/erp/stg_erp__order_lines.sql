with source as (
    select * from {{ source('erp', 'order_lines') }}
),

renamed as (
    select
        -- a line is its delivery and its place in it, whatever the file was called
        _load_id || ':' || _delivery_row as order_line_id,
        invoice_no,
        stock_code,
        description,
        quantity,
        unit_price,
        line_amount,
        invoiced_at,
        customer_key,
        country,
        case when is_cancellation then 'return' else 'sale' end as line_type,
        is_guest,
        is_product,
        is_free_of_charge,
        is_extreme_quantity
    from source
)

select * from renamed
