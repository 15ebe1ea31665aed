-- Move every row that broke a rule into the quarantine with its delivered values as they may leave
-- raw (lib/pii.py protect_record): personal identifiers (`$personal`) pseudonymised, personal data
-- in free text redacted; the clear values stay in the raw layer at (load_id, source_row).
-- A row held back before for the same rule keeps the run and time it was first held back
-- (`_held_before`, lib/staging.py), so staging the same deliveries again changes nothing.
insert into quarantine.rows
select
    $source as source,
    c._load_id as load_id,
    coalesce(p.run_id, $run_id) as run_id,
    c._source_file as source_file,
    c._partition as partition,
    c._row_number as source_row,
    c.broken_rules[1] as rule,
    r.dimension,
    r.reason || coalesce(' (first delivered in delivery ' || c._duplicate_of || ')', '') as reason,
    c.broken_rules as all_rules,
    protect_record(c._record, $personal::varchar[]) as record,
    coalesce(p.quarantined_at, current_timestamp::timestamp) as quarantined_at
from _candidates as c
inner join _rules as r on r.name = c.broken_rules[1]
left join _held_before as p
    on p.load_id = c._load_id
    and p.source_file is not distinct from c._source_file
    and p.source_row = c._row_number
    and p.rule = c.broken_rules[1]
where len(c.broken_rules) > 0
