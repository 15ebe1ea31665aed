-- The data-asset inventory as consumers see it: who owns what, how sensitive it is, its grain.

select
    asset_key,
    group_name,
    array_to_string(owners, ', ') as owners,
    classification,
    domain,
    array_to_string(kinds, ', ') as kinds,
    grain,
    description,
    checks,
    built_by_pipeline
from {{ source('governance', 'asset_inventory') }}
order by asset_key
