"""Every source's raw and staged assets, their checks and monitors, from one factory.

A source is its folder of `defs/` (`source.yaml` and its rules in `schemas.py`), its staging SQL
and its entry in the source catalogue (lib/source_assets.py). Its rules module listed here adds
it to the pipeline.
"""

import dagster as dg

from ai_roi.defs.messages import schemas as messages
from ai_roi.defs.orders import schemas as order_lines
from ai_roi.defs.tickets import schemas as ticket_events
from ai_roi.lib.source_assets import SourceDefinition, source_assets

SOURCES = {
    source.name: source
    for source in map(SourceDefinition.load, (order_lines, ticket_events, messages))
}

_built = [definition for source in SOURCES.values() for definition in source_assets(source)]
checks = [d for d in _built if isinstance(d, dg.AssetChecksDefinition)]
assets = [d for d in _built if not isinstance(d, dg.AssetChecksDefinition)]
