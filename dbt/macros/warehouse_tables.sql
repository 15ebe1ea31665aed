{#-
  The warehouse's bookkeeping tables, shared by every source: deliveries, quarantine, quality
  history, audit log. Idempotent; the same SQL on DuckDB and PostgreSQL (lib.warehouse.ensure_schemas
  renders it for the connection's engine).
-#}
{% macro warehouse_tables() -%}
create table if not exists raw._loads (
    load_id varchar primary key,
    source varchar not null,
    fingerprint varchar not null,
    files json not null,          -- [{path, partition, sha256, bytes, rows}]
    rows bigint not null,
    file_columns json not null,   -- header of the delivered file, before mapping
    loaded_at timestamp not null,
    run_id varchar,
    is_current boolean not null   -- delivered now: the staged layer is (to be) built from these
);
-- What became of each delivery (lib/warehouse.py, lib/staging.py): pending until its staging
-- publishes it (accepted) or holds it back (refused, with the reason); a snapshot replaced by a
-- newer one is superseded; a pending or refused file no longer delivered is withdrawn.
alter table raw._loads add column if not exists status varchar;
alter table raw._loads add column if not exists reason varchar;
alter table raw._loads add column if not exists policy varchar;
alter table raw._loads add column if not exists mapping json;  -- per file: pipeline -> file column
alter table raw._loads add column if not exists decided_at timestamp;
update raw._loads set status = case when is_current then 'accepted' else 'superseded' end
where status is null;

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

-- The quarantine rules each source's staging last used, as declared in its rule book.
create table if not exists quarantine.rules (
    source varchar not null,
    rule varchar not null,
    dimension varchar not null,
    reason varchar not null,
    averts_bad_decision boolean not null,  -- false: a copy of a row delivered in another file
    primary key (source, rule)
);

-- Quality history: one row per check evaluation (Pandera, monitor, dbt test, promotion gate).
-- rows_checked/rows_failed are null for table-level checks (volume, freshness, schema, drift, gates).
create table if not exists quality.check_results (
    run_id varchar not null,
    evaluated_at timestamp not null,
    asset_key varchar not null,
    check_name varchar not null,
    dimension varchar not null,
    check_kind varchar not null,  -- pandera | monitor | dbt | gate
    passed boolean not null,
    severity varchar not null,    -- ERROR stops downstream when the check fails, WARN does not
    rows_checked bigint,
    rows_failed bigint,
    columns varchar[] not null,   -- columns the check covers; empty for table-level checks
    observed json                 -- figures and thresholds, as in the check's metadata
);

-- Accepted and rejected schemas of each source's deliveries (see the schema-change monitor).
create table if not exists quality.source_schemas (
    source varchar not null,
    load_id varchar not null,
    decided_at timestamp not null,
    status varchar not null,      -- accepted | rejected
    file_schema json not null,    -- [{column, type}] as delivered
    mapping json not null,        -- pipeline column -> file column at the time
    differences json not null
);

-- Check coverage per run: which assets and how many of their columns each dimension checks.
create table if not exists quality.check_coverage (
    run_id varchar not null,
    computed_at timestamp not null,
    asset_key varchar not null,
    dimension varchar not null,
    checks integer not null,
    columns integer,              -- null where the asset is not a DuckDB table (files, models)
    columns_covered integer
);

-- One row per pipeline run: who launched it, on which code and data, what it checked, held back,
-- trained and promoted. `ai-roi run` runs the reports in a second Dagster run after the checks;
-- both are one row here, with every Dagster run id listed.
create table if not exists governance.audit_log (
    run_id varchar primary key,   -- the first Dagster run of the invocation
    dagster_run_ids varchar[] not null,
    started_at timestamp,
    finished_at timestamp,
    status varchar not null,      -- success | failure
    launched_by varchar not null, -- AI_ROI_LAUNCHED_BY, else the operating-system user
    launcher varchar not null,    -- cli | ci | dagster (the UI, a schedule or a sensor)
    selection varchar not null,
    git_commit varchar not null,
    data_versions json not null,  -- {source: {fingerprint, files: [{path, sha256}]}} and DVC outs
    checks_passed integer not null,
    checks_warned integer not null,
    checks_failed integer not null,
    rows_quarantined bigint not null,
    models_trained json not null, -- {model name: version} registered by this run
    promotions json not null      -- {model name: champion version} set by this run
);

-- What each month of a period mart was last built from (lib/month_builds.py): fingerprints of
-- the staged rows and of the mart's rows, and a digest of the dbt project.
create table if not exists governance.period_mart_builds (
    mart varchar not null,
    month varchar not null,       -- first day, ISO; 'undated' for rows without a date
    inputs varchar,
    rows varchar,
    code varchar not null,
    run_id varchar,
    built_at timestamp not null
);
{%- endmacro %}
