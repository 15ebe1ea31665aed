"""The checks of a source's stages: per-dimension Pandera checks, the monitors, and the audit a
staged candidate passes before it is published."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg
import pandera.polars as pa
from dagster_duckdb import DuckDBResource

from ai_roi.lib.history import recorded
from ai_roi.lib.monitors import (
    Finding,
    column_schema_change,
    freshness,
    load_volume,
    monthly_volume,
    schema_change,
)
from ai_roi.lib.pii import protect_rows
from ai_roi.lib.rules import (
    QUARANTINE_SHARE,
    Outcome,
    RuleBook,
    check_results,
    check_specs,
    md_table,
    validate_table,
    with_findings,
)
from ai_roi.lib.staging import held_back, register_privacy
from ai_roi.params import Params
from ai_roi.resources import (
    OutputsResource,
    ParamsResource,
    PrivacyResource,
    SourceCatalogResource,
)
from ai_roi.sources import SourceCatalog


def schema_results(
    con,
    sources: SourceCatalog,
    privacy_key: str,
    *,
    asset_key: dg.AssetKey,
    prefix: str,
    table: str,
    rulebook: RuleBook,
    schema: Callable[[SourceCatalog], pa.DataFrameSchema],
    source: str | None = None,
    raw_of: str | None = None,
    held: int | None = None,
) -> list[dg.AssetCheckResult]:
    """Validate `table` with the stage's Pandera schema: one result per dimension.

    A large table is validated in parts (lib.rules.validate_table).

    With `source` set, the stage's quarantine share is checked against the source's limit too,
    from `held` (rows a candidate holds back) or else from the quarantine. With `raw_of` set,
    `table` is that source's raw layer: failure samples leave it the way every row leaves raw
    (lib.pii.protect_rows), identifiers pseudonymised and free text redacted.
    """
    report = validate_table(con, table, schema(sources), rulebook)
    if source is not None:
        limit = getattr(sources, source).max_quarantine_share
        if held is None:
            held = held_back(con, source)
        share = held / max(held + report.rows_checked, 1)
        share_finding = Outcome(
            QUARANTINE_SHARE,
            None,
            int(share > limit) * held,
            sample=[{"quarantined": held, "share": round(share, 4), "limit": limit}],
            per_row=False,
        )
        report = with_findings(report, [share_finding])
    if raw_of is not None:
        register_privacy(con, privacy_key)
        for outcome in report.outcomes:
            outcome.sample = protect_rows(con, raw_of, outcome.sample)
    return list(check_results(report, asset_key, prefix, rulebook))


def build_schema_checks(
    *,
    asset_key: dg.AssetKey,
    prefix: str,
    table: str,
    rulebook: RuleBook,
    schema: Callable[[SourceCatalog], pa.DataFrameSchema],
    source: str | None = None,
    raw_of: str | None = None,
) -> dg.AssetChecksDefinition:
    """The Pandera checks of a published table (see `schema_results`), as an asset check op."""

    @dg.multi_asset_check(
        specs=check_specs(asset_key, prefix, rulebook),
        name=f"{prefix}_checks",
        description=f"Pandera schema of {asset_key.to_user_string()}, one check per dimension.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
        privacy: PrivacyResource,
    ):
        with duckdb.get_connection() as con:
            results = schema_results(
                con,
                catalog.load(),
                privacy.key,
                asset_key=asset_key,
                prefix=prefix,
                table=table,
                rulebook=rulebook,
                schema=schema,
                source=source,
                raw_of=raw_of,
            )
            yield from recorded(context, con, results, kind="pandera")

    return _checks


@dataclass(frozen=True)
class FindingCheck:
    """A check whose verdict is a `Finding`: its name, dimension, description, whether it blocks."""

    name: str
    dimension: str
    description: str
    blocking: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Monitor(FindingCheck):
    """One monitor check: what it measures from the warehouse (`MonitorInputs`), on which columns."""

    measure: Callable[["MonitorInputs"], Finding]
    columns: Callable[["MonitorInputs"], list[str]] = lambda _inputs: []


class MonitorInputs:
    """What a monitor may read: the warehouse, and the catalogue, params and outputs on demand."""

    def __init__(self, con, catalog: SourceCatalogResource, params: ParamsResource, outputs):
        self.con = con
        self._catalog, self._params, self.outputs = catalog, params, outputs

    @cached_property
    def sources(self) -> SourceCatalog:
        return self._catalog.load()

    @cached_property
    def params(self) -> Params:
        return self._params.load()


def monitor_specs(
    asset_key: dg.AssetKey, monitors: Sequence[FindingCheck]
) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            m.name,
            asset=asset_key,
            blocking=m.blocking,
            description=m.description,
            metadata={"dimension": m.dimension},
        )
        for m in monitors
    ]


def monitor_results(
    inputs: MonitorInputs, asset_key: dg.AssetKey, monitors: Sequence[Monitor]
) -> list[dg.AssetCheckResult]:
    """Each monitor's finding: ERROR where a blocking one fails, WARN otherwise."""
    return [_result(m.measure(inputs), asset_key, m, m.columns(inputs)) for m in monitors]


def build_monitors(
    *, asset_key: dg.AssetKey, name: str, monitors: Sequence[Monitor]
) -> dg.AssetChecksDefinition:
    """One op running `monitors` on `asset_key` (see `monitor_results`)."""

    @dg.multi_asset_check(specs=monitor_specs(asset_key, monitors), name=name)
    def _monitors(
        context: dg.AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        catalog: SourceCatalogResource,
        params: ParamsResource,
        outputs: OutputsResource,
    ):
        with duckdb.get_connection() as con:
            inputs = MonitorInputs(con, catalog, params, outputs)
            results = monitor_results(inputs, asset_key, monitors)
            yield from recorded(context, con, results, kind="monitor")

    return _monitors


COLUMN_SCHEMA_CHANGE = FindingCheck(
    "column_schema_change",
    "consistency",
    "Columns and types against the previous build: a dropped, added or retyped column breaks "
    "whatever reads the table by name (reports, BI tools, exports).",
)


def _column_schema(record) -> dict[str, str] | None:
    schema = record.asset_materialization.metadata.get("dagster/column_schema")
    return None if schema is None else {c.name: c.type for c in schema.value.columns}


def last_two_schemas(
    instance: dg.DagsterInstance, key: dg.AssetKey
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """The column schemas of `key`'s latest build and of the build before it: (previous, latest).

    A build is a run: a run that writes several months of a monthly mart materialises it once per
    month, and those are compared with the newest materialisation of an earlier run.
    """
    latest, cursor = None, None
    while True:
        page = instance.fetch_materializations(key, limit=100, cursor=cursor)
        for rec in page.records:
            if latest is None:
                latest = rec
            elif rec.run_id != latest.run_id:
                return _column_schema(rec), _column_schema(latest)
        if not page.has_more:
            return None, (None if latest is None else _column_schema(latest))
        cursor = page.cursor


def build_column_schema_checks(
    asset_keys: Sequence[dg.AssetKey], name: str
) -> dg.AssetChecksDefinition:
    """One `column_schema_change` check per asset (WARN): its columns and types against its
    previous build's, from the column schema its materialisations carry (`dagster/column_schema`).

    The verdict reads the Dagster instance's materialisations only, so it is the same whatever
    else the run selected.
    """

    @dg.multi_asset_check(
        specs=[s for key in asset_keys for s in monitor_specs(key, [COLUMN_SCHEMA_CHANGE])],
        name=name,
        can_subset=True,
    )
    def _schema_checks(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
        results = []
        for check_key in sorted(context.selected_asset_check_keys, key=str):
            key = check_key.asset_key
            previous, latest = last_two_schemas(context.instance, key)
            finding = column_schema_change(previous, latest, key.to_user_string())
            results.append(_result(finding, key, COLUMN_SCHEMA_CHANGE, sorted(latest or {})))
        with duckdb.get_connection() as con:
            yield from recorded(context, con, results, kind="monitor")

    return _schema_checks


@dataclass(frozen=True)
class Audit:
    """The checks a staged table must pass before it is published (write, audit, publish).

    The staged asset builds a candidate table, runs these checks on it (`run`) and publishes it
    only when no blocking one failed: a refused batch leaves the published table, the quarantine
    and everything downstream as they were. The checks are the asset's own (`specs`), so they run
    whenever the asset does, whatever else a run selected.
    """

    asset_key: dg.AssetKey
    prefix: str
    rulebook: RuleBook
    schema: Callable[[SourceCatalog], pa.DataFrameSchema]
    source: str | None = None  # the quarantine share of this source is checked too
    monitors: Callable[[str], Sequence[Monitor]] = lambda _table: ()  # monitors of a table

    def specs(self) -> list[dg.AssetCheckSpec]:
        return [
            *check_specs(self.asset_key, self.prefix, self.rulebook),
            *monitor_specs(self.asset_key, self.monitors("candidate")),
        ]

    def run(
        self,
        context: dg.AssetExecutionContext,
        con,
        *,
        table: str,
        held: int | None,
        catalog: SourceCatalogResource,
        params: ParamsResource,
        outputs: OutputsResource,
        privacy_key: str,
    ) -> list[dg.AssetCheckResult]:
        """Every check of the candidate `table`, recorded in the quality history."""
        results = schema_results(
            con,
            catalog.load(),
            privacy_key,
            asset_key=self.asset_key,
            prefix=self.prefix,
            table=table,
            rulebook=self.rulebook,
            schema=self.schema,
            source=self.source,
            held=held,
        )
        out = recorded(context, con, results, kind="pandera")
        monitors = self.monitors(table)
        if monitors:
            inputs = MonitorInputs(con, catalog, params, outputs)
            out += recorded(
                context, con, monitor_results(inputs, self.asset_key, monitors), kind="monitor"
            )
        return out


def blocking_failures(results: Sequence[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    return [r for r in results if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR]


def _result(
    finding: Finding, asset_key: dg.AssetKey, monitor: FindingCheck, columns: list[str]
) -> dg.AssetCheckResult:
    metadata = {
        "dimension": monitor.dimension,
        "columns": columns,
        "summary": finding.summary,
        **{k: v for k, v in finding.observed.items() if v is not None},
    }
    if finding.table:
        metadata["details"] = dg.MetadataValue.md(md_table(finding.table, limit=60))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=monitor.name,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.ERROR if monitor.blocking else dg.AssetCheckSeverity.WARN,
        description=finding.summary,
        metadata=metadata,
    )


def raw_monitors(source: str) -> list[Monitor]:
    """Schema change (blocking) and delivery volume of a source's raw layer."""
    return [
        Monitor(
            f"raw_{source}_schema_change",
            "consistency",
            "Columns and their types against the last accepted schema; blocks until the change "
            "is mapped or accepted in the source catalogue.",
            lambda i: schema_change(i.con, source, getattr(i.sources, source)),
            columns=lambda i: list(getattr(i.sources, source).columns),
            blocking=True,
        ),
        Monitor(
            f"raw_{source}_volume_change",
            "completeness",
            "Rows per delivery (and partition) against earlier deliveries: median/MAD band on "
            "log counts.",
            lambda i: load_volume(i.con, source, i.params.quality.volume),
        ),
    ]


def staged_monitors(source: str, table: str, time_column: str) -> list[Monitor]:
    """Freshness and monthly volume of a time-based staged table."""

    def fresh(i: MonitorInputs) -> Finding:
        cadence = getattr(i.sources, source).freshness
        if cadence is None:
            return Finding(
                True, f"no cadence set: add sources.{source}.freshness to judge freshness"
            )
        return freshness(i.con, table, time_column, cadence)

    return [
        Monitor(
            f"staged_{source}_freshness",
            "timeliness",
            f"Lag of the newest {time_column} behind the as-of date against the expected cadence "
            "(sources.<source>.freshness).",
            fresh,
            columns=lambda _i: [time_column],
        ),
        Monitor(
            f"staged_{source}_monthly_volume",
            "completeness",
            f"Rows per complete month of {time_column} against the other months (a year earlier "
            "where two years of data allow).",
            lambda i: monthly_volume(i.con, table, time_column, i.params.quality.volume),
            columns=lambda _i: [time_column],
        ),
    ]
