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
