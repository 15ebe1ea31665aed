-- The deliveries in play (`_delivered`) as the staging queries of sources with exact-copy rules
-- read them: every column as delivered, and beside it
-- - `_delivered_row`: the row as delivered, kept for the quarantine;
-- - `_longest_value`: the length of its longest value, bookkeeping (`_…`) left out;
-- - `_copy_number`, `_first_file`, `_first_load`: its rank among its exact copies and the file and
--   delivery that brought the first one (`_copies`; a row delivered once is its own first copy).
select
    delivered.*,
    delivered as _delivered_row,
    longest_value([*columns(lambda c: not starts_with(c, '_'))]) as _longest_value,
    coalesce(copies._copy_number, 1) as _copy_number,
    coalesce(copies._first_file, delivered._source_file) as _first_file,
    coalesce(copies._first_load, delivered._load_id) as _first_load
from _delivered as delivered
left join _copies as copies
    on copies._load_id = delivered._load_id
    and copies._source_file is not distinct from delivered._source_file
    and copies._row_number = delivered._row_number
