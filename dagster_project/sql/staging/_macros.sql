-- Text helpers shared by the staging models.

-- Trim any whitespace (not only spaces); empty strings and the source's "missing" tokens become null.
create or replace temp macro clean_text(value, missing_tokens) as (
    case
        when value is null then null
        when regexp_replace(value, '^\s+|\s+$', '', 'g') = '' then null
        when list_contains(missing_tokens, regexp_replace(value, '^\s+|\s+$', '', 'g')) then null
        else regexp_replace(value, '^\s+|\s+$', '', 'g')
    end
);

-- Parse a yes/no flag with the source's own spellings; unknown spellings become null.
create or replace temp macro parse_flag(value, true_values, false_values) as (
    case
        when list_contains(true_values, lower(value)) then true
        when list_contains(false_values, lower(value)) then false
    end
);

-- A whole number exactly as written, or null: never rounded. '1.5', '1e3', '1,000', 'NaN' and
-- 'inf' are not whole numbers (try_cast would round the first and read the others); a trailing
-- '.0' is allowed. Eighteen digits at most, so the value always fits a bigint.
create or replace temp macro parse_integer(value) as (
    case
        when regexp_full_match(value, '[+-]?[0-9]{1,18}') then try_cast(value as bigint)
        when regexp_full_match(value, '[+-]?[0-9]{1,18}\.0+') then try_cast(split_part(value, '.', 1) as bigint)
    end
);

-- A decimal number in plain notation that fits decimal(18, 4) exactly, or null: no exponent, no
-- thousands separator, no NaN or infinity, at most 14 integer digits and 4 decimals.
create or replace temp macro parse_decimal(value) as (
    case
        when regexp_full_match(value, '[+-]?([0-9]{1,14}(\.[0-9]{0,4})?|\.[0-9]{1,4})')
            then try_cast(value as decimal(18, 4))
    end
);

-- The length of the longest value of a delivered row (its JSON record), bookkeeping left out.
create or replace temp macro longest_value(record) as (
    coalesce(list_max(list_transform(
        list_filter(json_keys(record), lambda k: not starts_with(k, '_')),
        lambda k: length(json_extract_string(record, '$."' || k || '"'))
    )), 0)
);
