-- Exact copies among the deliveries in play (`_delivered`, lib/staging.py): each line whose
-- _row_hash repeats, ranked from the first delivered one (earliest load, then file and line) on,
-- with the file and delivery that brought it first. A line delivered once is not listed: its copy
-- number is 1. Ranked apart from the source's staging query, so that query never sorts the whole
-- delivery with all its columns, only these few narrow rows.
select
    _load_id,
    _source_file,
    _row_number,
    row_number() over first_delivered as _copy_number,
    first_value(_source_file) over first_delivered as _first_file,
    first_value(_load_id) over first_delivered as _first_load
from _delivered
where _row_hash in (select _row_hash from _delivered group by 1 having count(*) > 1)
window first_delivered as (
    partition by _row_hash order by _loaded_at, _load_id, _source_file, _row_number
)
