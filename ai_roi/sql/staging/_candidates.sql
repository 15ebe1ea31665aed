-- A source's staged rows (its staging query, `staged_query`, lib/staging.py) as the candidate holds
-- them: the bookkeeping every staged row carries, then the source's own columns. Of the delivery's
-- bookkeeping (`_…`, from `_delivered_ranked`) the query passes on, it keeps:
-- - where the row came from: its delivery, file, partition, line, and line within the delivery;
-- - `_record`: the row as delivered, where it breaks a rule (for the quarantine);
-- - `_duplicate_of`: the delivery that brought a copy first, where that is an earlier one.
select
    _load_id,
    _source_file,
    _partition,
    _row_number,
    coalesce(_delivery_row, _row_number) as _delivery_row,
    case when len(broken_rules) > 0 then to_json(_delivered_row) end as _record,
    broken_rules,
    case when _copy_number > 1 and _first_load <> _load_id then _first_load end as _duplicate_of,
    columns(lambda c: not starts_with(c, '_') and c != 'broken_rules')
from staged_query
