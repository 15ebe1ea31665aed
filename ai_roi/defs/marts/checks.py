"""The marts' column schemas between builds (lib/checks.build_column_schema_checks)."""

from ai_roi.defs.marts.assets import mart_keys
from ai_roi.lib.checks import build_column_schema_checks

marts_column_schema = build_column_schema_checks(
    [*mart_keys(roi=False), *mart_keys(roi=True)], name="marts_column_schema"
)
