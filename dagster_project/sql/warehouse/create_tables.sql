-- Bookkeeping tables shared by every source. Idempotent.
create table if not exists raw._loads (
    load_id varchar primary key,
    source varchar not null,
    fingerprint varchar not null,
    files json not null,          -- [{path, partition, sha256, bytes, rows}]
    rows bigint not null,
    file_columns json not null,   -- header of the delivered file, before mapping
    loaded_at timestamp not null,
    run_id varchar,
    is_current boolean not null
);

-- One row per source row that was kept out of the staged layer, with the rule it broke.
create table if not exists quarantine.rows (
    source varchar not null,
    load_id varchar not null,
    run_id varchar,
    source_file varchar,
    partition varchar,
    source_row bigint not null,
    rule varchar not null,
    dimension varchar not null,
    reason varchar not null,
    all_rules varchar[] not null,
    record json not null,
    quarantined_at timestamp not null
);
