-- A view, not a table: checks that run after dbt in the same run (models, drift, gates) still
-- appear in their run's rows the moment they are recorded.
{{ config(materialized='view') }}

with results as (
    select * from {{ source('quality', 'check_results') }}
),

per_asset_dimension as (
    select
        run_id,
        asset_key,
        dimension,
        min(evaluated_at) as evaluated_at,
        count(*) as checks_run,
        count(*) filter (where passed) as checks_passed,
        count(*) filter (where not passed) as checks_failed,
        count(*) filter (where not passed and severity = 'ERROR') as blocking_failures,
        -- row-level checks only; table-level ones (volume, freshness, schema, drift) count above
        max(rows_checked) as rows_checked,
        max(rows_failed) as rows_failed,
        string_agg(check_name, ', ' order by check_name) filter (where not passed) as failed_checks
    from results
    group by run_id, asset_key, dimension
)

select
    run_id,
    asset_key,
    dimension,
    evaluated_at,
    checks_run,
    checks_passed,
    checks_failed,
    blocking_failures,
    rows_checked,
    rows_failed,
    -- score: percentage of the asset's rows that pass every row-level rule of the dimension
    case
        when rows_checked > 0
            then {{ round_double(
                "100 * (1 - " ~ divide('least(coalesce(rows_failed, 0), rows_checked)', 'rows_checked') ~ ")", 2
            ) }}
    end as score,
    {{ round_double(divide('100 * checks_passed', 'checks_run'), 2) }} as check_pass_rate,
    failed_checks
from per_asset_dimension
