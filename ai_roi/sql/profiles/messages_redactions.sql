-- Personal data redacted from staged.messages, by kind (email, phone, card, account).
select kind, count(*) as redactions
from (select unnest(redacted_pii) as kind from staged.messages)
group by kind
order by kind
