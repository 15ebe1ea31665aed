-- The data version behind every figure: the current delivery of each source and its fingerprint
-- (sha256 of the files and the column mapping).

select
    source,
    load_id,
    fingerprint,
    rows as rows_delivered,
    loaded_at
from {{ source('raw_meta', 'loads') }}
where is_current
order by source
