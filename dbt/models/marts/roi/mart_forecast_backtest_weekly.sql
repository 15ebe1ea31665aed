-- Forecast vs actual per week over the forecaster's backtest: one week ahead, all backtested
-- products together, the forecaster and the naive forecast it must beat.

select
    cast(week_start as date) as week_start,
    sum(greatest(actual, 0)) as actual_units,
    sum(greatest(model, 0)) as forecast_units,
    sum(greatest(naive, 0)) as naive_units,
    count(distinct stock_code) as products,
    -- one backtest, one run: the same in every row
    min(mlflow_run_id) as mlflow_run_id,
    min(model_version) as model_version
from {{ source('ml', 'demand_backtest') }}
where horizon = 1
group by 1
order by 1
