-- Order lines: every delivered line once, typed and normalised, with the row-level rules it breaks.
-- Parameters come from the source catalogue (see config/sources.yaml).
with source as (
    -- the deliveries in play, each row with its rank among its exact copies (lib/staging.py)
    select * from _delivered_ranked
),

normalised as (
    select
        -- the delivery's bookkeeping, with each row's rank among its exact copies
        columns('^_'),
        clean_text(invoice_no, $missing_values) as invoice_no,
        clean_text(stock_code, $missing_values) as stock_code,
        clean_text(description, $missing_values) as description,
        clean_text(quantity, $missing_values) as quantity_text,
        clean_text(unit_price, $missing_values) as unit_price_text,
        clean_text(invoice_date, $missing_values) as invoice_date_text,
        clean_text(customer_id, $missing_values) as customer_id,
        clean_text(country, $missing_values) as country_label
    from source
),

typed as (
    select
        *,
        parse_integer(quantity_text) as quantity,
        parse_decimal(unit_price_text) as unit_price,
        try_strptime(invoice_date_text, $timestamp_format) as invoiced_at,
        starts_with(invoice_no, $cancellation_prefix) as is_cancellation
    from normalised
),

ruled as (
    select
        *,
        list_filter([
            case when invoice_no is null then 'invoice_no_missing' end,
            case when stock_code is null then 'stock_code_missing' end,
            case when quantity is null then 'quantity_not_integer' end,
            case when unit_price is null then 'unit_price_not_numeric' end,
            case when invoiced_at is null then 'invoice_date_unparseable' end,
            case
                when invoiced_at < $earliest_valid_date or invoiced_at > $latest_valid_at
                    then 'invoice_date_out_of_range'
            end,
            copy_rule(
                _copy_number, _first_load, _load_id, _first_file, _source_file,
                'order_line_in_earlier_delivery', 'order_line_in_other_file', 'duplicate_order_line'
            ),
            case when quantity = 0 then 'quantity_zero' end,
            case when quantity < 0 and not is_cancellation then 'negative_quantity_not_cancellation' end,
            case when quantity > 0 and is_cancellation then 'cancellation_with_positive_quantity' end,
            case when unit_price < 0 then 'unit_price_negative' end,
            case when abs(quantity) > $max_plausible_quantity then 'quantity_implausible' end,
            case
                when abs(quantity::hugeint * unit_price) > $max_line_amount
                    then 'line_amount_implausible'
            end,
            case when _longest_value > $max_text_length then 'value_too_long' end
        ], lambda rule: rule is not null) as broken_rules
    from typed
)

select
    columns('^_'),  -- bookkeeping: lib/staging.py keeps what a staged row carries
    broken_rules,
    invoice_no,
    stock_code,
    description,
    quantity,
    unit_price,
    invoiced_at,
    -- null where a rule holds the line back, so no value can overflow the amount
    case when len(broken_rules) = 0 then (quantity * unit_price)::decimal(18, 4) end as line_amount,
    pseudonymise(customer_id) as customer_key,
    case
        when list_contains($unknown_country_labels, country_label) then null
        else coalesce($country_alias_to[list_position($country_alias_from, country_label)], country_label)
    end as country,
    is_cancellation,
    customer_id is null as is_guest,
    coalesce(regexp_matches(stock_code, $product_code_pattern), false) as is_product,
    unit_price = 0 as is_free_of_charge,
    abs(quantity) > $max_abs_quantity as is_extreme_quantity
from ruled
