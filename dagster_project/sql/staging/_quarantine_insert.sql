-- Move every row that broke a rule into the quarantine, keeping its delivered values; personal
-- identifiers in the record are pseudonymised (`$personal`), their raw values stay in the raw
-- layer at (load_id, source_row).
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
    json_merge_patch(
        c._record,
        coalesce(
            to_json(map_from_entries(list_transform(
                $personal::varchar[],
                lambda col: {'k': col, 'v': pseudonymise(json_extract_string(c._record, '$.' || col))}
            ))),
            '{}'
        )
    ) as record,
    current_timestamp::timestamp as quarantined_at
from _candidates as c
inner join _rules as r on r.name = c.broken_rules[1]
where len(c.broken_rules) > 0
