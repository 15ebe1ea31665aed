"""One factory for the assets and checks of every source: raw as delivered, staged as typed.

A source is declared once (`SourceDefinition`: its name in the catalogue, its rules module, what
its staging SQL needs) and `source_assets` derives the rest by one convention:

- assets `raw/<name>` (the delivered files, all text) and `staged/<name>` (the typed rows that
  passed every row rule), group `raw` / `staged`, classified `pii` / `confidential`;
- the raw layer's Pandera checks `raw_<name>_<dimension>` over `raw.<name>__current` and its
  monitors (schema change, delivery volume), ops `raw_<name>_checks` / `raw_<name>_monitors`;
- the staged asset's own checks `staged_<name>_<dimension>`, run on each candidate batch before
  it is published (lib.checks.Audit), with the freshness and monthly-volume monitors of its time
  column where it has one.

Its rules module (`defs/<source>/schemas.py`) defines `RAW_RULES` and `raw_schema(catalog)` (the
delivered rows), `QUARANTINE_RULES` (the row rules of its staging SQL), and `STAGED_RULES` and
`staged_schema(catalog)` (the staged rows). Adding a source is one declaration, that module, its
staging SQL (`sql/staging/<name>.sql`) and its entry in the source catalogue.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

import dagster as dg
import duckdb as ddb
from dagster_duckdb import DuckDBResource

from ai_roi.lib.assets import (
    StagingResources,
    ingest_raw,
    run_staging,
    staged_metadata,
    staged_version,
)
from ai_roi.lib.checks import (
    Audit,
    build_monitors,
    build_schema_checks,
    raw_monitors,
    staged_monitors,
)
from ai_roi.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from ai_roi.sources import SourceCatalog, SourceConfig

RULES_MODULE = ("RAW_RULES", "raw_schema", "QUARANTINE_RULES", "STAGED_RULES", "staged_schema")


@dataclass(frozen=True)
class SourceDefinition:
    """What differs between sources; `source_assets` encodes everything else once."""

    name: str  # the source's name in the catalogue (sources.<name>)
    domain: str  # the business system it comes from (erp, crm): a tag on its assets
    raw_description: str  # first sentence: what it is; then its grain ("one row per …")
    staged_description: str
    rules: ModuleType  # its rules module (see above)
    # the staging SQL's parameters from the source's configuration at the time of the run
    staging_params: Callable[[SourceConfig, datetime], dict]
    flags: tuple[str, ...] = ()  # staged boolean columns counted in the metadata
    time_column: str | None = None  # the staged column its freshness and volume are judged on
    bucket_by: tuple[str, ...] = ()  # a staged row's identity (lib.rules.validate_table)
    # more metadata for the staged materialisation, read from the published table
    staged_profile: Callable[[ddb.DuckDBPyConnection], dict] | None = None

    def __post_init__(self) -> None:
        missing = [name for name in RULES_MODULE if not hasattr(self.rules, name)]
        if missing:
            raise TypeError(
                f"source {self.name}: its rules module {self.rules.__name__} must define "
                f"{', '.join(missing)} (see lib/source_assets.py)"
            )

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def staged_key(self) -> dg.AssetKey:
        return dg.AssetKey(["staged", self.name])

    def config(self, catalog: SourceCatalog) -> SourceConfig:
        return getattr(catalog, self.name)

    def audit(self) -> Audit:
        """The checks a staged batch passes before it is published (write, audit, publish)."""
        column = self.time_column
        return Audit(
            asset_key=self.staged_key,
            prefix=f"staged_{self.name}",
            rulebook=self.rules.STAGED_RULES,
            schema=self.rules.staged_schema,
            source=self.name,
            monitors=(lambda table: staged_monitors(self.name, table, column))
            if column
            else (lambda _table: ()),
            bucket_by=self.bucket_by,
        )


def source_assets(source: SourceDefinition) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The raw and staged assets of `source`, the raw layer's checks and its monitors."""
    audit = source.audit()

    @dg.asset(
        key=source.raw_key,
        group_name="raw",
        kinds={"duckdb"},
        tags={"classification": "pii", "domain": source.domain},
        description=source.raw_description,
    )
    def raw_asset(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, catalog: SourceCatalogResource
    ) -> dg.MaterializeResult:
        return ingest_raw(context, duckdb, source.name, source.config(catalog.load()))

    @dg.asset(
        key=source.staged_key,
        deps=[source.raw_key],
        group_name="staged",
        kinds={"duckdb"},
        tags={"classification": "confidential", "domain": source.domain},
        check_specs=audit.specs(),
        description=source.staged_description,
    )
    def staged_asset(
        context: dg.AssetExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
        privacy: PrivacyResource,
        params: ParamsResource,
        outputs: OutputsResource,
    ):
        cfg = source.config(catalog.load())
        result, checks = yield from run_staging(
            context,
            duckdb,
            source=source.name,
            config=cfg,
            rulebook=source.rules.QUARANTINE_RULES,
            params=source.staging_params(cfg, datetime.now()),
            audit=audit,
            resources=StagingResources(catalog, params, outputs, privacy),
            flags=source.flags,
        )
        metadata = staged_metadata(result)
        if source.staged_profile is not None:
            with duckdb.get_connection() as con:
                metadata.update(source.staged_profile(con))
        yield dg.MaterializeResult(
            metadata=metadata, data_version=staged_version(duckdb, source.name)
        )
        yield from checks

    raw_checks = build_schema_checks(
        asset_key=source.raw_key,
        prefix=f"raw_{source.name}",
        table=f"raw.{source.name}__current",
        raw_of=source.name,
        rulebook=source.rules.RAW_RULES,
        schema=source.rules.raw_schema,
    )
    monitors = build_monitors(
        asset_key=source.raw_key,
        name=f"raw_{source.name}_monitors",
        monitors=raw_monitors(source.name),
    )
    return [raw_asset, staged_asset, raw_checks, monitors]
