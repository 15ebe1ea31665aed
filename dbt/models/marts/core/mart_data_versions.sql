-- The data version behind every figure: the delivery of each source the staged layer, and so every
-- mart, was built from, with its fingerprint (sha256 of the files and the column mapping). A newer
-- delivery that was refused is current in raw._loads but not here: figures built from this mart
-- are stale until it is accepted (dagster_project/lib/freshness.py reads the same from Python).

with staged_loads as (
    select distinct _load_id as load_id from {{ source('erp', 'order_lines') }}
    union
    select distinct _load_id as load_id from {{ source('crm', 'tickets') }}
    union
    select distinct _load_id as load_id from {{ source('crm', 'messages') }}
)

select
    loads.source,
    loads.load_id,
    loads.fingerprint,
    loads.rows as rows_delivered,
    loads.loaded_at
from {{ source('raw_meta', 'loads') }} as loads
inner join staged_loads on loads.load_id = staged_loads.load_id
order by loads.source
