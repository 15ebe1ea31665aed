"""One factory for the assets and checks of every source: raw as delivered, staged as typed.

A source is a folder of `defs/` holding what differs between sources:

- `source.yaml`: its name in the source catalogue, the system it comes from, what its raw and
  staged tables are, the staged flags its metadata counts, the column its freshness is judged
  on, more metadata read from the staged table, and the quarantine rules of its staging SQL
  (`SourceFile` below);
- `schemas.py`, its Pandera rules: `RAW_RULES` and `raw_schema(catalog)` (the delivered rows),
  `STAGED_RULES` and `staged_schema(catalog)` (the staged rows);

with its staging query, the dbt macro `staging_<name>` (dbt/macros/staging/<name>.sql), which
reads the settings of its catalogue entry (lib.staging.staging_settings), and that entry in the
source catalogue.
`source_assets` derives the rest by one convention:

- assets `raw/<name>` (the delivered files, all text) and `staged/<name>` (the typed rows that
  passed every row rule), group `raw` / `staged`, classified `pii` / `confidential`, versioned
  by the source's declaration and this factory (lib.code_versions);
- the raw layer's Pandera checks `raw_<name>_<dimension>` over `raw.<name>__current` and its
  monitors (schema change, delivery volume), ops `raw_<name>_checks` / `raw_<name>_monitors`;
- the staged asset's own checks `staged_<name>_<dimension>`, run on each candidate batch before
  it is published (lib.checks.Audit), with the freshness and monthly-volume monitors of its time
  column where it has one.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import dagster as dg
import duckdb as ddb
import yaml
from dagster_duckdb import DuckDBResource
from pydantic import BaseModel, ConfigDict, ValidationError

from ai_roi import yaml_text
from ai_roi.lib import code_versions
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
from ai_roi.lib.dbt_sql import render
from ai_roi.lib.rules import VALUE_TOO_LONG, Rule, RuleBook, copy_rules
from ai_roi.lib.warehouse import engine_of
from ai_roi.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from ai_roi.sources import SourceCatalog, SourceConfig

SOURCE_FILE = "source.yaml"  # beside the source's rules module
# the dbt macros of the profile queries, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/profiles.sql", "dbt/macros/cross_engine.sql")
RULES_MODULE = ("RAW_RULES", "raw_schema", "STAGED_RULES", "staged_schema")


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuarantineRule(_Declared):
    """A row rule of the staging SQL, which emits its name where a row breaks it."""

    name: str
    dimension: str
    description: str  # the reason a quarantined row is given
    column: str | None = None  # the pipeline column the reason names
    clock: bool = False  # judged against the time of the run (a date after the load)
    averts_bad_decision: bool = True


class Copies(_Declared):
    stem: str  # the rules' names: duplicate_<stem>, <stem>_in_earlier_delivery, …_in_other_file
    row: str  # what a row is, in the reasons ("event")


class Quarantine(_Declared):
    rules: tuple[QuarantineRule, ...]
    copies: Copies | None = None  # the rules of an exact copy of a delivered row
    value_too_long: bool = False  # a value longer than the source's max_text_length

    def rulebook(self) -> RuleBook:
        shared = [
            *(copy_rules(self.copies.stem, self.copies.row) if self.copies else ()),
            *((VALUE_TOO_LONG,) if self.value_too_long else ()),
        ]
        return RuleBook(*(Rule(**dict(rule)) for rule in self.rules), *shared)


class SourceFile(_Declared):
    """A source's `source.yaml`."""

    name: str  # the source's name in the catalogue (sources.<name>)
    domain: str  # the business system it comes from (erp, crm): a tag on its assets
    raw_description: str  # first sentence: what it is; then its grain ("one row per …")
    staged_description: str
    flags: tuple[str, ...] = ()  # staged boolean columns counted in the metadata
    time_column: str | None = None  # the staged column its freshness and volume are judged on
    # more metadata for the staged materialisation: its name, and the dbt macro of the query
    # that reads it from the published table (dbt/macros/profiles.sql; see `profile_metadata`)
    profile: dict[str, str] = {}
    quarantine: Quarantine


@dataclass(frozen=True)
class SourceDefinition:
    """What differs between sources; `source_assets` encodes everything else once."""

    name: str
    domain: str
    raw_description: str
    staged_description: str
    rules: ModuleType  # its rules module (see above)
    quarantine_rules: RuleBook  # the row rules of its staging SQL
    flags: tuple[str, ...] = ()
    time_column: str | None = None
    profile: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [name for name in RULES_MODULE if not hasattr(self.rules, name)]
        if missing:
            raise TypeError(
                f"source {self.name}: its rules module {self.rules.__name__} must define "
                f"{', '.join(missing)} (see lib/source_assets.py)"
            )

    @classmethod
    def load(cls, rules: ModuleType) -> "SourceDefinition":
        """The source declared by the `source.yaml` beside its rules module."""
        path = Path(rules.__file__).with_name(SOURCE_FILE)
        try:
            declared = SourceFile.model_validate(yaml_text.load(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise TypeError(
                f"{rules.__name__} has no {SOURCE_FILE} beside it ({exc.strerror}): a source "
                "is declared by that file (see lib/source_assets.py)"
            ) from None
        except (yaml.YAMLError, ValidationError) as exc:
            raise TypeError(f"{path} does not declare a source: {exc}") from None
        fields = dict(declared)
        quarantine = fields.pop("quarantine")
        try:
            book = quarantine.rulebook()
        except ValueError as exc:
            raise TypeError(f"{path}: {exc}") from None
        return cls(**fields, rules=rules, quarantine_rules=book)

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def staged_key(self) -> dg.AssetKey:
        return dg.AssetKey(["staged", self.name])

    @property
    def code_version(self) -> str:
        """Its rules module, the `source.yaml` beside it and this factory, hashed."""
        return code_versions.code_version(self.rules.__name__, __name__)

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
        )


def profile_metadata(con: ddb.DuckDBPyConnection, profile: Mapping[str, str]) -> dict:
    """Each profile query's rows as JSON metadata: keyed by the first column, each holding the
    second column's value, or the other columns by name where there are several."""
    metadata = {}
    for name, query in profile.items():
        result = con.execute(render(engine_of(con), query))
        columns = [d[0] for d in result.description][1:]
        metadata[name] = dg.MetadataValue.json(
            {
                key: rest[0] if len(rest) == 1 else dict(zip(columns, rest, strict=True))
                for key, *rest in result.fetchall()
            }
        )
    return metadata


def source_assets(source: SourceDefinition) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The raw and staged assets of `source`, the raw layer's checks and its monitors."""
    audit = source.audit()

    @dg.asset(
        key=source.raw_key,
        code_version=source.code_version,
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
        code_version=source.code_version,
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
            rulebook=source.quarantine_rules,
            audit=audit,
            resources=StagingResources(catalog, params, outputs, privacy),
            flags=source.flags,
        )
        metadata = staged_metadata(result)
        if source.profile:
            with duckdb.get_connection() as con:
                metadata.update(profile_metadata(con, source.profile))
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
