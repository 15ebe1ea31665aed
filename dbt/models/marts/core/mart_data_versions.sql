-- The data version behind every figure: per source, the deliveries the staged layer (and so every
-- mart) was built from. Staging marks a delivery accepted in the transaction that publishes it, so
-- a newer delivery that was refused, or not staged yet, is not here: figures built from this mart
-- are stale until it is accepted. The version is the delivery's fingerprint (sha256 of its files
-- and column mapping), or, where several deliveries are in play, the sha256 of their fingerprints
-- in order; ai_roi/lib/freshness.py computes the same from Python (test_cli compares).
-- depends_on: {{ source('erp', 'order_lines') }}, {{ source('crm', 'tickets') }},
-- {{ source('crm', 'messages') }} (the staged tables: built after them)

with accepted as (
    select * from {{ source('raw_meta', 'loads') }}
    where status = 'accepted'
)

select
    source,
    case
        when count(*) = 1 then min(fingerprint)
        else {{ sha256_hex("string_agg(fingerprint, '+' order by fingerprint)") }}
    end as fingerprint,
    count(*) as deliveries,
    sum(rows) as rows_delivered,
    max(loaded_at) as loaded_at
from accepted
group by source
order by source
