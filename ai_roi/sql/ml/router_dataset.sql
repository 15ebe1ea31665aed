-- Labelled support messages the router learns from and is evaluated on.
select message_id, split, message_text as text, intent as label
from stg.stg_crm__messages
order by message_id
