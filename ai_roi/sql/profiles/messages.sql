-- Class balance of staged.messages per split: how many labels, fewest and most examples per label.
with counts as (
    select split, label, count(*) as examples
    from staged.messages
    group by all
)

select split, count(*) as labels, min(examples) as "min", max(examples) as "max"
from counts
group by split
order by split
