-- The assumptions of the base case as params.yaml gave them (measured volume: null).

select {{ columns_except(source('roi', 'scenarios'), ['scenario_id', 'scenario_kind', 'varied', 'direction', 'draw', 'volume_factor', 'automation_factor']) }}
from {{ source('roi', 'scenarios') }}
where scenario_kind = 'base'
