{#- Order lines: every delivered line once, typed and normalised, with the row-level rules it
    breaks. Settings from the source catalogue (config/sources.yaml; staging.sql says what `p` is). -#}
{% macro staging_order_lines(p) -%}
{{ require_settings(p, [
    'missing_values', 'timestamp_format', 'cancellation_prefix', 'earliest_valid_date',
    'latest_valid_at', 'max_plausible_quantity', 'max_line_amount', 'max_text_length',
    'unknown_country_labels', 'country_aliases', 'product_code_pattern', 'max_abs_quantity',
]) }}
with source as (
    -- the deliveries in play, each row with its rank among its exact copies
    select * from _delivered_ranked
),

normalised as (
    select
        -- the delivery's bookkeeping, with each row's rank among its exact copies
        {{ delivered_bookkeeping(p) }},
        {{ clean_text('invoice_no', p.missing_values) }} as invoice_no,
        {{ clean_text('stock_code', p.missing_values) }} as stock_code,
        {{ clean_text('description', p.missing_values) }} as description,
        {{ clean_text('quantity', p.missing_values) }} as quantity_text,
        {{ clean_text('unit_price', p.missing_values) }} as unit_price_text,
        {{ clean_text('invoice_date', p.missing_values) }} as invoice_date_text,
        {{ clean_text('customer_id', p.missing_values) }} as customer_id,
        {{ clean_text('country', p.missing_values) }} as country_label
    from source
),

typed as {{ materialized() }} (
    select
        *,
        {{ parse_integer('quantity_text') }} as quantity,
        {{ parse_decimal('unit_price_text') }} as unit_price,
        {{ parse_timestamp('invoice_date_text', p.timestamp_format) }} as invoiced_at,
        starts_with(invoice_no, {{ text_literal(p.cancellation_prefix) }}) as is_cancellation
    from normalised
),

ruled as (
    select
        *,
        {{ broken_rules([
            "case when invoice_no is null then 'invoice_no_missing' end",
            "case when stock_code is null then 'stock_code_missing' end",
            "case when quantity is null then 'quantity_not_integer' end",
            "case when unit_price is null then 'unit_price_not_numeric' end",
            "case when invoiced_at is null then 'invoice_date_unparseable' end",
            "case when invoiced_at < " ~ date_literal(p.earliest_valid_date)
                ~ " or invoiced_at > " ~ timestamp_literal(p.latest_valid_at)
                ~ " then 'invoice_date_out_of_range' end",
            copy_rule('order_line_in_earlier_delivery', 'order_line_in_other_file', 'duplicate_order_line'),
            "case when quantity = 0 then 'quantity_zero' end",
            "case when quantity < 0 and not is_cancellation then 'negative_quantity_not_cancellation' end",
            "case when quantity > 0 and is_cancellation then 'cancellation_with_positive_quantity' end",
            "case when unit_price < 0 then 'unit_price_negative' end",
            "case when abs(quantity) > " ~ p.max_plausible_quantity ~ " then 'quantity_implausible' end",
            "case when abs(cast(quantity as " ~ wide_integer() ~ ") * unit_price) > "
                ~ double_literal(p.max_line_amount) ~ " then 'line_amount_implausible' end",
            "case when _longest_value > " ~ p.max_text_length ~ " then 'value_too_long' end",
        ]) }} as broken_rules
    from typed
)

select
    {{ staged_bookkeeping() }},
    invoice_no,
    stock_code,
    description,
    quantity,
    unit_price,
    invoiced_at,
    -- null where a rule holds the line back, so no value can overflow the amount
    cast(case when {{ rules_broken('broken_rules') }} = 0 then quantity * unit_price end as decimal(18, 4)) as line_amount,
    {{ privacy_function('pseudonymise') }}(customer_id) as customer_key,
    case
        when {{ text_in('country_label', p.unknown_country_labels) }} then null
        else {{ text_lookup('country_label', p.country_aliases) }}
    end as country,
    is_cancellation,
    customer_id is null as is_guest,
    coalesce({{ regex_search('stock_code', p.product_code_pattern) }}, false) as is_product,
    unit_price = 0 as is_free_of_charge,
    abs(quantity) > {{ p.max_abs_quantity }} as is_extreme_quantity
from ruled
{%- endmacro %}
