-- Move every row that broke a rule into the quarantine with its delivered values as they may leave
-- raw (lib/pii.py protect_record): personal identifiers (`$personal`) pseudonymised, personal data
-- in free text redacted; the clear values stay in the raw layer at (load_id, source_row).
insert into quarantine.rows
select
    $source as source,
    c._load_id as load_id,
    $run_id as run_id,
    c._source_file as source_file,
    c._partition as partition,
    c._row_number as source_row,
    c.broken_rules[1] as rule,
    r.dimension,
    r.reason,
    c.broken_rules as all_rules,
    protect_record(c._record, $personal::varchar[]) as record,
    current_timestamp::timestamp as quarantined_at
from _candidates as c
inner join _rules as r on r.name = c.broken_rules[1]
where len(c.broken_rules) > 0
