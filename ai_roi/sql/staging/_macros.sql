-- Text helpers shared by the staging models.

-- Trim any whitespace (not only spaces: the characters of \s, tab, line feed, form feed, carriage
-- return and space); empty strings and the source's "missing" tokens become null.
create or replace temp macro trim_space(value) as (
    trim(value, chr(9) || chr(10) || chr(12) || chr(13) || ' ')
);

create or replace temp macro clean_text(value, missing_tokens) as (
    case
        when trim_space(value) = '' or list_contains(missing_tokens, trim_space(value)) then null
        else trim_space(value)
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

-- The length of the longest of a delivered row's values, e.g.
-- longest_value([*columns(lambda c: not starts_with(c, '_'))]) for its values, bookkeeping left out.
create or replace temp macro longest_value(delivered_values) as (
    coalesce(list_max(list_transform(delivered_values, lambda v: length(v))), 0)
);

-- The rule an exact copy of a delivered row breaks: brought first by an earlier delivery (an
-- overlapping or re-cut export), delivered in another file of the same delivery, or repeated in
-- its own file; null for the first of its copies. The names are the source's quarantine rules.
create or replace temp macro copy_rule(
    copy_number, first_load, load_id, first_file, source_file,
    in_earlier_delivery, in_other_file, in_same_file
) as (
    case
        when copy_number > 1 and first_load <> load_id then in_earlier_delivery
        when copy_number > 1 and first_file <> source_file then in_other_file
        when copy_number > 1 then in_same_file
    end
);
