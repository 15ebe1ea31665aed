"""Composes the code location: loads every asset and check in `defs/` and applies project policy."""

from __future__ import annotations

import warnings

import dagster as dg

from ai_roi import settings
from ai_roi.defs import sources
from ai_roi.defs.automation import sensors as automation
from ai_roi.defs.features import assets as feature_assets
from ai_roi.defs.features import checks as feature_checks
from ai_roi.defs.forecast import assets as forecast_assets
from ai_roi.defs.forecast import checks as forecast_checks
from ai_roi.defs.governance import assets as governance_assets
from ai_roi.defs.governance import checks as governance_checks
from ai_roi.defs.governance import sensors as governance_sensors
from ai_roi.defs.marts import assets as mart_assets
from ai_roi.defs.marts import checks as mart_checks
from ai_roi.defs.marts.project import dbt_resource
from ai_roi.defs.quality import assets as quality_assets
from ai_roi.defs.quality import sensors as quality_sensors
from ai_roi.defs.roi import assets as roi_assets
from ai_roi.defs.router import assets as router_assets
from ai_roi.defs.router import checks as router_checks
from ai_roi.defs.tickets import assets as ticket_assets
from ai_roi.defs.tickets import checks as ticket_checks
from ai_roi.lib import code_location, code_versions, partitions
from ai_roi.params import AutomationParams, ParamsError, PartitionParams, load_params
from ai_roi.resources import (
    MartsExportResource,
    MartsServerResource,
    MlflowResource,
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
    duckdb_resource,
)

# Owners are declared once, per group.
GROUP_OWNERS = {
    "raw": ["team:data-engineering"],
    "staged": ["team:data-engineering"],
    "stg": ["team:analytics-engineering"],
    "marts": ["team:analytics-engineering"],
    "features": ["team:ml-engineering"],
    "router": ["team:ml-engineering"],
    "forecast": ["team:ml-engineering"],
    "quality": ["team:data-engineering"],
    "roi": ["team:analytics-engineering"],
    "governance": ["team:data-engineering"],
}

_modules = [
    ticket_assets,
    ticket_checks,
    mart_assets,
    mart_checks,
    feature_assets,
    feature_checks,
    router_assets,
    router_checks,
    forecast_assets,
    forecast_checks,
    quality_assets,
    roi_assets,
    governance_assets,
    governance_checks,
]


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Every resource the assets and checks name, each resolving its paths when used."""
    return {
        "duckdb": duckdb_resource(),
        "catalog": SourceCatalogResource(),
        "privacy": PrivacyResource(),
        "dbt": dbt_resource(),
        "params": ParamsResource(),
        "mlflow_store": MlflowResource(),
        "outputs": OutputsResource(),
        "marts_export": MartsExportResource(),
        "marts_server": MartsServerResource(),
    }


def _load_params():
    """params.yaml as the code location loads, or None where it cannot be read.

    An unreadable params.yaml must not keep the UI from loading: the schedule and the partitions
    then keep their defaults and every asset that reads params reports the error itself.
    """
    try:
        return load_params(settings.params_path())
    except ParamsError as error:
        warnings.warn(f"the schedule and the partitions keep their defaults: {error}", stacklevel=1)
        return None


_params = _load_params()
_automation = _params.automation if _params else AutomationParams()
_partitions = _params.partitions if _params else PartitionParams()


def _with_code_version(asset):
    """`asset` with the code version of the module that declares it (lib/code_versions.py), unless
    it has one (dbt's models are versioned by dagster-dbt from their SQL)."""
    if not isinstance(asset, dg.AssetsDefinition):
        return asset  # a spec of a table other assets write: nothing runs it
    function = getattr(getattr(asset.node_def, "compute_fn", None), "decorated_fn", None)
    module = getattr(function, "__module__", None)
    if module is None:
        return asset
    version = code_versions.code_version(module)
    return asset.map_asset_specs(
        lambda spec: spec if spec.code_version else spec.replace_attributes(code_version=version)
    )


def _with_owners(spec: dg.AssetSpec) -> dg.AssetSpec:
    owners = spec.owners or GROUP_OWNERS.get(spec.group_name or "", [])
    return spec.replace_attributes(owners=owners)


with warnings.catch_warnings():
    # map_resolved_asset_specs is marked preview; the versions are pinned in uv.lock
    warnings.simplefilter("ignore", dg.PreviewWarning if hasattr(dg, "PreviewWarning") else Warning)
    defs = code_location.register(
        dg.Definitions(
            assets=[
                *sources.assets,
                *map(_with_code_version, dg.load_assets_from_modules(_modules)),
                mart_assets.monthly_models(partitions.monthly(_partitions)),
                quality_assets.check_results,
                quality_assets.quarantine_rows,
                quality_assets.quarantine_rules,
                governance_assets.raw_loads,
                governance_assets.audit_log,
            ],
            asset_checks=[*sources.checks, *dg.load_asset_checks_from_modules(_modules)],
            sensors=[
                governance_sensors.audit_runs,
                quality_sensors.reports_after_runs,
                automation.new_deliveries,
            ],
            schedules=[automation.weekly_refresh(_automation)],
            jobs=[quality_sensors.reports_job, automation.pipeline_job],
            resources=build_resources(),
            # DuckDB allows one writer per file: run steps one after another in one process.
            executor=dg.in_process_executor,
        ).map_resolved_asset_specs(func=_with_owners)
    )
