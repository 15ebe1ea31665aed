{#-
  Figures shown on the staged assets beside their row counts (a source's `profile` in its
  source.yaml names the macro; defs/tickets/assets.py shows the tickets' own), so a reader can
  compare them with the source. Rendered for the warehouse's engine (ai_roi/lib/dbt_sql.py).
-#}

{#- Class balance of staged.messages per split: how many labels, fewest and most examples per
    label. -#}
{% macro profile_messages() -%}
with counts as (
    select split, label, count(*) as examples
    from staged.messages
    group by split, label
)

select split, count(*) as labels, min(examples) as "min", max(examples) as "max"
from counts
group by split
order by split
{%- endmacro %}

{#- Personal data redacted from staged.messages, by kind (email, phone, card, account). -#}
{% macro profile_messages_redactions() -%}
select kind, count(*) as redactions
from (select unnest(redacted_pii) as kind from staged.messages) as redacted
group by kind
order by kind
{%- endmacro %}

{#- Headline figures of staged.tickets. -#}
{% macro profile_tickets() -%}
select
    count(*) as tickets,
    count(*) filter (where is_resolved) as resolved,
    count(*) filter (where reassignment_count > 0) as reassigned,
    count(*) filter (where reopen_count > 0) as reopened,
    count(*) filter (where not made_sla) as missed_sla,
    {{ round_double(median(divide(dbt.datediff('opened_at', 'final_resolved_at_reported', 'minute'), 60.0)), 1) }}
        as median_resolution_hours,
    count(*) filter (where final_resolved_at_reported is null) as final_event_without_resolved_at,
    count(*) filter (where priority_changed) as priority_changed,
    count(*) filter (where category_changed) as category_changed,
    -- a sum of counts is numeric in PostgreSQL (a Decimal, which metadata cannot hold)
    (
        select cast(sum(n) as bigint) from (
            select count(*) as n from staged.tickets group by date_trunc('month', opened_at)
            order by n desc limit 3
        ) as busiest
    ) as tickets_in_busiest_3_months,
    (
        select {{ round_double(divide('100.0 * max(n)', 'sum(n)'), 1) }} from (
            select count(*) as n from staged.ticket_events group by contact_type
        ) as by_contact_type
    ) as events_top_contact_type_pct,
    (
        select {{ round_double(divide('100.0 * max(n)', 'sum(n)'), 1) }} from (
            select count(*) as n from staged.ticket_events group by priority
        ) as by_priority
    ) as events_top_priority_pct
from staged.tickets
{%- endmacro %}

{#- The quarantine by source and rule for the quality page (defs/quality/assets.py): rows held
    back, the rule's reason, one protected record as a sample, and whether the rule averts a bad
    decision. -#}
{% macro quality_quarantine_summary() -%}
select q.source, q.rule, q.dimension, {{ dbt.any_value('q.reason') }} as reason, count(*) as rows,
    cast({{ arg_min('q.record', 'q.source_row') }} as varchar) as sample,
    coalesce(bool_or(r.averts_bad_decision), false) as averts_bad_decision
from quarantine.rows as q
left join quarantine.rules as r using (source, rule)
group by q.source, q.rule, q.dimension
order by q.source, rows desc, q.rule
{%- endmacro %}
