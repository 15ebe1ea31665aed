-- Weekly demand of the products the forecaster plans for: full weeks only, the largest products
-- among those sold in at least $min_active_weeks weeks. Weeks where returns outweigh sales count
-- as zero demand.
with weekly as (
    select stock_code, week_start, greatest(net_units, 0) as units
    from marts.mart_demand_weekly
    where not is_partial_week
),

chosen as (
    select stock_code
    from weekly
    group by stock_code
    having count(*) filter (where units > 0) >= $min_active_weeks
    order by sum(units) desc, stock_code
    limit $top_products
)

select weekly.stock_code, weekly.week_start, weekly.units
from weekly
inner join chosen using (stock_code)
order by weekly.stock_code, weekly.week_start
