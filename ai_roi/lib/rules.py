"""Rules, dimensions, and turning a Pandera validation into per-dimension Dagster check results.

Every rule, whether a Pandera check or a quarantine rule in staging SQL, has a name, one of the five
quality dimensions, and a severity. `blocking` rules fail their check with severity ERROR, which
stops downstream assets; the others report with severity WARN and let the run go on.

A Pandera rule is declared once, with its test: `Rule(..., on="quantity", valid=...)` for a rule
on a column, `Rule(..., valid_rows=...)` for one over whole rows. A stage's rule book generates
its Pandera schema (`RuleBook.schema`), given the stage's columns and the source's settings.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.constants import CHECK_OUTPUT_KEY

from ai_roi.lib.dbt_sql import template
from ai_roi.lib.warehouse import (
    engine_of,
    hash_part,
    quote_ident,
    read_batches,
    read_frame,
    relation_columns,
)

# the dbt macros it renders (lib.dbt_sql), its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/cross_engine.sql",)

DIMENSIONS = ("accuracy", "completeness", "consistency", "timeliness", "uniqueness")


@dataclass(frozen=True)
class Rule:
    name: str
    dimension: str
    description: str
    blocking: bool = False
    key: str | None = None  # report distinct values of this column, e.g. "650 stock codes"
    column: str | None = None  # the pipeline column the rule is about, named in quarantine reasons
    # a row held back under this rule would have misled a decision; a copy of a row delivered in
    # another file would not (the original is counted once), so the ROI's risk axis leaves it out
    averts_bad_decision: bool = True
    # the verdict depends on when the check runs (a date after the load is held back): a row held
    # back under it may pass later with no new data, so an unchanged run is not skipped
    clock: bool = False
    # the rule's test, given the source's settings (its catalogue entry). On a column: `on` names
    # it (or several, each tested alone) and `valid(column, settings)` is true where a value
    # passes. Over whole rows: `valid_rows(settings)` is true where a row passes, and `together`
    # names the columns rows must agree on to be compared (see `frame_check`); a callable of the
    # settings where they come from the catalogue. A null verdict counts as `nulls_valid`.
    on: str | tuple[str, ...] | None = None
    valid: Callable[[pl.Expr, object], pl.Expr] | None = field(default=None, compare=False)
    valid_rows: Callable[[object], pl.Expr] | None = field(default=None, compare=False)
    nulls_valid: bool = True
    together: Sequence[str] | Callable[[object], Sequence[str]] | None = field(
        default=None, compare=False
    )

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"rule {self.name}: unknown dimension {self.dimension!r}")
        if (self.valid is not None) != (self.on is not None):
            raise ValueError(f"rule {self.name}: a column test needs `on` and `valid` both")
        if self.valid is not None and self.valid_rows is not None:
            raise ValueError(f"rule {self.name}: a test on a column or over rows, not both")

    def checks(self, settings: object = None) -> list[tuple[str | None, pa.Check]]:
        """The rule's Pandera checks given the source's settings: (its column, the check) for a
        column rule, (None, the check) for a rule over rows; none for a rule without a test."""
        if self.valid is not None:
            columns = (self.on,) if isinstance(self.on, str) else self.on
            test = self.valid
            return [
                (
                    c,
                    column_check(
                        self.name, lambda col: test(col, settings), nulls_valid=self.nulls_valid
                    ),
                )
                for c in columns
            ]
        if self.valid_rows is not None:
            together = self.together(settings) if callable(self.together) else self.together
            check = frame_check(
                self.name,
                self.valid_rows(settings),
                nulls_valid=self.nulls_valid,
                together=None if together is None else list(together),
            )
            return [(None, check)]
        return []


# Pandera's own checks, named by Pandera; they guard the structure of a stage, so they block.
PANDERA_BUILTINS = {
    "column_in_dataframe": Rule(
        "column_in_dataframe", "completeness", "a required column is missing", True
    ),
    "column_in_schema": Rule(
        "column_in_schema", "consistency", "an unexpected column is present", True
    ),
    "not_nullable": Rule("not_nullable", "completeness", "a required value is null", True),
    "field_uniqueness": Rule("field_uniqueness", "uniqueness", "a key value repeats", True),
    "multiple_fields_uniqueness": Rule(
        "multiple_fields_uniqueness", "uniqueness", "a key repeats", True
    ),
    "dtype": Rule("dtype", "consistency", "a column has the wrong type", True),
}
TABLE_HAS_ROWS = Rule("table_has_rows", "completeness", "the table has no rows", blocking=True)
# A quarantine rule every source has: a delivered value longer than the source's max_text_length.
VALUE_TOO_LONG = Rule(
    "value_too_long",
    "accuracy",
    "a value is longer than max_text_length: a pasted document or a broken export",
)
QUARANTINE_SHARE = Rule(
    "quarantine_share_within_limit",
    "accuracy",
    "more of the delivery was quarantined than the source's max_quarantine_share allows",
    blocking=True,
)


def quarantine_reasons(rulebook: RuleBook, columns: dict[str, str]) -> dict[str, str]:
    """Readable reason per rule, naming the column as it is called in the user's file."""
    reasons = {}
    for rule in rulebook:
        where = f" (column {columns[rule.column]!r})" if rule.column in columns else ""
        reasons[rule.name] = rule.description + where
    return reasons


_NAMED_COLUMN = re.compile(r"^(?P<words>.*) \(column (?P<q>['\"])(?P<column>.*)(?P=q)\)$", re.S)


def reason_column(reason: str) -> str | None:
    """The file column a quarantine reason names (`quarantine_reasons`), if it names one."""
    found = _NAMED_COLUMN.match(reason)
    return found["column"] if found else None


class RuleBook:
    """The named rules of one stage of one source."""

    def __init__(self, *rules: Rule) -> None:
        self._rules = {r.name: r for r in rules}
        if len(self._rules) != len(rules):
            raise ValueError("rule names must be unique within a rule book")

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __contains__(self, name: str) -> bool:
        return name in self._rules

    def get(self, check_name: str) -> Rule:
        if check_name in self._rules:
            return self._rules[check_name]
        base = check_name.split("(")[0]
        if base in PANDERA_BUILTINS:
            return PANDERA_BUILTINS[base]
        raise KeyError(f"check {check_name!r} has no rule in the rule book")

    def dimensions(self) -> list[str]:
        return [d for d in DIMENSIONS if any(r.dimension == d for r in self)]

    def schema(
        self, name: str, columns: dict[str, pa.Column], settings: object = None
    ) -> pa.DataFrameSchema:
        """The stage's Pandera schema: `columns` (types, nullability) with every rule's check on
        its column, and the rules over rows as the schema's checks, in the rule book's order."""
        # checks are added to copies: the caller's columns (or a DataFrameModel's cached ones)
        # stay as they are
        columns = copy.deepcopy(columns)
        frame = []
        for rule in self:
            for column, check in rule.checks(settings):
                if column is None:
                    frame.append(check)
                elif column in columns:
                    columns[column].checks.append(check)
                else:
                    raise ValueError(f"rule {rule.name}: {name} has no column {column!r}")
        return pa.DataFrameSchema(name=name, columns=columns, checks=frame, strict=False)


@dataclass
class Outcome:
    rule: Rule
    column: str | None
    failures: int
    sample: list[dict] = field(default_factory=list)
    # the failing rows' distinct values of the rule's key (parts of a table merge them)
    key_values: pl.Series | None = field(default=None, repr=False)
    per_row: bool = True  # False: a finding about the table or a column as a whole

    @property
    def distinct_keys(self) -> int | None:
        """How many distinct values of the rule's key the failing rows have, e.g. 650 stock codes."""
        return None if self.key_values is None else self.key_values.len()

    @property
    def label(self) -> str:
        """`rule`, or `rule:column` when one rule is checked on several columns."""
        return f"{self.rule.name}:{self.column}" if self.column else self.rule.name


@dataclass
class Report:
    rows_checked: int
    outcomes: list[Outcome]
    failed_rows: dict[str, int]  # per dimension, rows failing at least one rule of it
    columns: dict[str, list[str]] = field(default_factory=dict)  # per dimension, columns covered
    # per dimension, the rows failing a row-level rule (failed_rows before table-level findings)
    row_failures: dict[str, int] = field(default_factory=dict)
    # per dimension, the ids (ROW_ID) of those rows, where the validated frame carried them
    failing_ids: dict[str, pl.Series] = field(default_factory=dict, repr=False)


def covered_columns(schema: pa.DataFrameSchema, rulebook: RuleBook) -> dict[str, list[str]]:
    """Per dimension, the columns at least one check of the schema looks at.

    A declared type is a consistency check, a non-nullable column a completeness check, a unique
    column a uniqueness check; named column checks count under their rule's dimension. Checks over
    whole rows count for the table, not for a column.
    """
    covered: dict[str, set[str]] = {d: set() for d in DIMENSIONS}
    for name, column in schema.columns.items():
        if column.dtype is not None:
            covered["consistency"].add(name)
        if not column.nullable:
            covered["completeness"].add(name)
        if column.unique:
            covered["uniqueness"].add(name)
        for check in column.checks:
            if check.name in rulebook:
                covered[rulebook.get(check.name).dimension].add(name)
    return {d: sorted(cols) for d, cols in covered.items()}


def validate(
    schema: pa.DataFrameSchema,
    df: pl.DataFrame,
    rulebook: RuleBook,
    sample_size: int = 5,
) -> Report:
    """Run `schema` over all of `df` and sort each failure under its rule and dimension.

    Counts come from each failed check's boolean output (one bit per row), never from Pandera's
    failure cases: a check keeps only `sample_size` of those (`n_failure_cases`), so a rule that
    fails on millions of rows costs a mask, not a Python object per failing row.
    """
    outcomes: list[Outcome] = []
    failing: dict[str, pl.Series] = {}  # per dimension, rows failing at least one of its rules
    if df.height == 0:
        outcomes.append(Outcome(TABLE_HAS_ROWS, None, 1, per_row=False))
    try:
        _sampled(schema, sample_size).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        masks: dict[tuple[str, str | None], pl.Series] = {}
        scalars: dict[tuple[str, str | None], list] = {}
        for err in exc.schema_errors:
            key = (_check_name(err), err.schema.name if err.schema.name != schema.name else None)
            rulebook.get(key[0])  # a check without a rule is a programming error
            mask = _failing_rows(err, df.height)
            if mask is None:  # about the table or a column as a whole, not its rows
                scalars.setdefault(key, []).append(err.failure_cases)
            else:
                masks[key] = mask if key not in masks else masks[key] | mask
        for (check, column), mask in masks.items():
            rule = rulebook.get(check)
            failing[rule.dimension] = (
                mask if rule.dimension not in failing else failing[rule.dimension] | mask
            )
            rows = mask.arg_true()
            keys = None
            if rule.key is not None and rule.key in df.columns:
                keys = df.get_column(rule.key).gather(rows).unique()
            sample = df.drop(ROW_ID, strict=False).gather(rows.head(sample_size)).to_dicts()
            outcomes.append(Outcome(rule, column, len(rows), sample, keys))
        for (check, column), cases in scalars.items():
            # named by the column, so a sample of a personal column is known to be one
            sample = [{column or "failure_case": str(case)} for case in cases[:sample_size]]
            outcomes.append(Outcome(rulebook.get(check), column, len(cases), sample, per_row=False))
    row_failures = {d: int(failing[d].sum()) if d in failing else 0 for d in DIMENSIONS}
    report = _report(df.height, outcomes, row_failures, covered_columns(schema, rulebook))
    if ROW_ID in df.columns:
        report.failing_ids = {d: df.get_column(ROW_ID).filter(m) for d, m in failing.items()}
    return report


def _report(rows: int, outcomes: list[Outcome], row_failures: dict[str, int], columns) -> Report:
    failed_rows = dict(row_failures)
    for o in outcomes:  # table-level outcomes carry no row index
        failed_rows[o.rule.dimension] = max(failed_rows[o.rule.dimension], o.failures)
    return Report(rows, outcomes, failed_rows, columns, row_failures)


def validate_table(
    con,
    table: str,
    schema: pa.DataFrameSchema,
    rulebook: RuleBook,
    *,
    bucket_by: Sequence[str] | None = None,
    chunk_rows: int = 1_000_000,
    sample_size: int = 5,
) -> Report:
    """`validate` over a table or view of either engine (a DuckDB connection, or a PostgreSQL
    lib.postgres.Warehouse), its `_row_hash` bookkeeping left out.

    A table of up to `chunk_rows` rows is validated as one frame. A larger one is validated in
    parts that fit in memory, with the same verdicts:

    - with `bucket_by` (by default the columns every check that compares rows agrees on, see
      `shared_reach`), the rows are split by a hash of those columns, so rows that agree on them
      (the copies a uniqueness check compares) always land in the same part; every check of such
      a schema must compare rows only within groups of equal `bucket_by` values;
    - otherwise the columns the checks read are copied once into a scratch table, and each check
      is validated where its reach allows (`frame_check(together=…)`): the row checks in
      consecutive batches of rows, each check that compares rows with other rows on
      only the columns it reads, in parts split by a hash of the columns rows must agree on (one
      part for a check over the whole table). Rows carry an id, so the rows failing a dimension
      are counted once however many of its checks and parts they fail.

    Counts add up over the parts, distinct keys are counted over all of them, and the samples are
    the first of the first parts.
    """
    # every column but the row fingerprint: bookkeeping no rule reads
    present = [c for c in relation_columns(con, table) if c != "_row_hash"]
    columns = _select(present)
    rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
    if rows <= chunk_rows:
        df = read_frame(con, f"select {columns} from {table}")
        return validate(schema, df, rulebook, sample_size=sample_size)
    if bucket_by is None:
        bucket_by = shared_reach(schema)
    if not bucket_by:
        read_by = _read_by(present, schema)
        return _validate_by_reach(
            con, table, read_by, schema, rulebook, rows, chunk_rows, sample_size
        )
    parts = -(-rows // chunk_rows)
    part_of = hash_part(con, list(bucket_by), parts)
    reports = [
        validate(
            schema,
            read_frame(con, f"select {columns} from {table} where {part_of} = {part}"),
            rulebook,
            sample_size=sample_size,
        )
        for part in range(parts)
    ]
    return merge_reports(reports, sample_size)


def _select(columns: Iterable[str]) -> str:
    return ", ".join(map(quote_ident, columns))


ROW_ID = "_validated_row"  # a row's id while a large table is validated in parts
# where a raw row came from (its delivery and line): kept in the failure samples of a large table
LOCATORS = ("_load_id", "_row_number")
# a part of a check that compares rows holds about as many values as a batch of this many columns
BATCH_COLUMNS = 8


def _read_by(present: list[str], schema: pa.DataFrameSchema) -> list[str]:
    """Of a table's `present` columns, those the schema validates or its checks read, and the
    LOCATORS: the copy a large table is validated from holds no others (a check of unknown
    reach: all)."""
    checks = schema_checks(schema)
    if any(not hasattr(c, "reads") for c in checks):
        return present
    wanted = set(schema.columns) | {c for check in checks for c in check.reads}
    return [c for c in present if c in wanted or c in LOCATORS]


def _validate_by_reach(
    con,
    table: str,
    read_by: list[str],
    schema: pa.DataFrameSchema,
    rulebook: RuleBook,
    rows: int,
    chunk_rows: int,
    sample_size: int,
) -> Report:
    """See `validate_table`: a large table without `bucket_by`, each check within its reach,
    from a copy of the columns `read_by`."""
    row_schema = copy.deepcopy(schema)
    row_schema.checks = [c for c in schema.checks if reach(c) is None]
    compared = [c for c in schema.checks if reach(c) is not None]
    buckets = []
    for i, check in enumerate(compared):
        together, read = reach(check)
        parts = -(-rows * len(read) // (chunk_rows * BATCH_COLUMNS)) if together else 1
        part_of = hash_part(con, list(together), parts) if together else "0"
        buckets.append((f"_part_{i}", part_of, parts))
    # beside the table, in the warehouse rather than in memory: stored compressed in DuckDB's
    # file (a fifth of the memory at 50x the order lines) and read back faster; in the table's
    # own schema, so raw rows stay in raw; dropped when done, replaced if a killed run left it. A
    # temporary table (a staged candidate) gets a temporary copy. Its rows carry an id: DuckDB's
    # row id, numbered on PostgreSQL as the copy is written.
    home, _, base = table.rpartition(".")
    scratch = f'{home}."_validating__{base}"' if home else f'"_validating__{base}"'
    engine = engine_of(con)
    row_id = template(engine, "row_id_read").format(name=quote_ident(ROW_ID))
    con.execute(f"drop table if exists {scratch}")
    con.execute(
        f"create {'' if home else 'temp '}table {scratch} as select {_select(read_by)}"
        + template(engine, "row_id_stored").format(name=quote_ident(ROW_ID))
        + "".join(f", {expr} as {column}" for column, expr, _ in buckets)
        + f" from {table}"
    )
    try:
        batches = read_batches(
            con, f"select {row_id} as {ROW_ID}, {_select(read_by)} from {scratch}", chunk_rows
        )
        reports = [
            validate(row_schema, pl.from_arrow(batch), rulebook, sample_size=sample_size)
            for batch in batches
        ]
        for check, (name, _expr, parts) in zip(compared, buckets, strict=True):
            alone = pa.DataFrameSchema(checks=[check], name=schema.name, strict=False)
            read = _select(reach(check)[1])
            for part in range(parts):
                df = read_frame(
                    con, f"select {row_id} as {ROW_ID}, {read} from {scratch} where {name} = {part}"
                )
                reports.append(validate(alone, df, rulebook, sample_size=sample_size))
    finally:
        con.execute(f"drop table if exists {scratch}")
    # a row failing checks of one dimension in several parts counts once
    row_failures = {}
    for d in DIMENSIONS:
        ids = [r.failing_ids[d] for r in reports if d in r.failing_ids]
        row_failures[d] = pl.concat(ids).n_unique() if ids else 0
    outcomes = merge_outcomes(reports, sample_size)
    return _report(rows, outcomes, row_failures, covered_columns(schema, rulebook))


def with_findings(report: Report, findings: Iterable[Outcome]) -> Report:
    """`report` with findings about the table as a whole in front (e.g. its quarantine share)."""
    return _report(
        report.rows_checked, [*findings, *report.outcomes], report.row_failures, report.columns
    )


def merge_reports(reports: list[Report], sample_size: int) -> Report:
    """One report of a table validated in disjoint parts (see `validate_table`)."""
    row_failures = {d: sum(r.row_failures.get(d, 0) for r in reports) for d in DIMENSIONS}
    return _report(
        sum(r.rows_checked for r in reports),
        merge_outcomes(reports, sample_size),
        row_failures,
        reports[0].columns,
    )


def merge_outcomes(reports: list[Report], sample_size: int) -> list[Outcome]:
    """The outcomes of parts, one per rule and column: counts added, distinct keys over all
    parts, the first samples; a finding about the whole table kept once."""
    merged: dict[tuple[str, str | None], Outcome] = {}
    for report in reports:
        for o in report.outcomes:
            if o.rule is TABLE_HAS_ROWS:  # an empty part; the whole table is judged by its rows
                continue
            key = (o.rule.name, o.column)
            if key not in merged:
                merged[key] = replace(o, sample=o.sample[:sample_size])
            elif o.per_row:  # the same finding about the whole in every part is kept once
                m = merged[key]
                m.failures += o.failures
                m.sample = (m.sample + o.sample)[:sample_size]
                if o.key_values is not None:
                    m.key_values = (
                        o.key_values
                        if m.key_values is None
                        else pl.concat([m.key_values, o.key_values]).unique()
                    )
    return list(merged.values())


def _sampled(schema: pa.DataFrameSchema, sample_size: int) -> pa.DataFrameSchema:
    """A copy of `schema` whose checks keep at most `sample_size` failure cases each."""
    bounded = copy.deepcopy(schema)
    for check in schema_checks(bounded):
        check.n_failure_cases = sample_size
    return bounded


def _check_name(err: pa.errors.SchemaError) -> str:
    """The name a failure is filed under: the check's name, or Pandera's for its own checks."""
    check = err.check
    if isinstance(check, str):
        return check
    return check.error or check.name or str(check)


def _failing_rows(err: pa.errors.SchemaError, height: int) -> pl.Series | None:
    """True on each row the check failed, from its boolean output; None for a check of the
    table or a column as a whole (a missing column, a wrong type)."""
    output = err.check_output
    if not isinstance(output, pl.DataFrame) or CHECK_OUTPUT_KEY not in output.columns:
        return None
    if output.height != height:
        return None
    return ~output.get_column(CHECK_OUTPUT_KEY).fill_null(False)


def quality_score(rows_failed: int | None, rows_checked: int | None) -> float | None:
    """The quality score: percentage of checked rows that pass, to 0.01; None when none checked.

    marts.mart_data_quality computes the same per asset and dimension in SQL (the tests compare
    the two); `dimension_scores` applies it to a whole run.
    """
    if not rows_checked:
        return None
    return round(100 * (1 - min(rows_failed or 0, rows_checked) / rows_checked), 2)


def dimension_scores(rows: Iterable[dict]) -> dict[str, float | None]:
    """A run's score per dimension from its mart_data_quality rows: every checked row counts once.

    Row-weighted over the run's assets (a table of a million rows weighs more than one of ten),
    so both the quality page and the ROI report show this number for a run.
    """
    checked: dict[str, int] = {}
    failed: dict[str, int] = {}
    for row in rows:
        if row["rows_checked"]:
            dim = row["dimension"]
            checked[dim] = checked.get(dim, 0) + row["rows_checked"]
            failed[dim] = failed.get(dim, 0) + min(row["rows_failed"] or 0, row["rows_checked"])
    return {dim: quality_score(failed.get(dim), checked.get(dim)) for dim in DIMENSIONS}


def md_table(rows: list[dict], limit: int = 5) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows[:limit]:
        cells = [str(row.get(c, ""))[:60].replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_specs(asset_key: dg.AssetKey, prefix: str, rulebook: RuleBook) -> list[dg.AssetCheckSpec]:
    """One check per quality dimension the rule book covers, named `<prefix>_<dimension>`."""
    specs = []
    for dim in rulebook.dimensions():
        rules = [r for r in rulebook if r.dimension == dim]
        specs.append(
            dg.AssetCheckSpec(
                f"{prefix}_{dim}",
                asset=asset_key,
                blocking=any(r.blocking for r in rules),
                description=f"{dim.capitalize()} of {asset_key.to_user_string()}: "
                + "; ".join(r.name for r in rules),
                metadata={"dimension": dim, "rules": [r.name for r in rules]},
            )
        )
    return specs


def check_results(
    report: Report, asset_key: dg.AssetKey, prefix: str, rulebook: RuleBook
) -> Iterator[dg.AssetCheckResult]:
    """Yield one result per dimension: ERROR if a blocking rule failed, WARN for the others."""
    for dim in rulebook.dimensions():
        rules = [r for r in rulebook if r.dimension == dim]
        failed = [o for o in report.outcomes if o.rule.dimension == dim and o.failures > 0]
        blocking_failed = any(o.rule.blocking for o in failed)
        failed_names = sorted({o.rule.name for o in failed})
        table = [
            {
                "rule": o.rule.name,
                "column": o.column or "",
                "failures": o.failures,
                "distinct_keys": o.distinct_keys if o.distinct_keys is not None else "",
                "blocking": o.rule.blocking,
                "description": o.rule.description,
            }
            for o in failed
        ]
        samples = "\n\n".join(f"**{o.rule.name}**\n\n{md_table(o.sample)}" for o in failed)
        metadata = {
            "dimension": dim,
            "columns": report.columns.get(dim, []),
            "rows_checked": report.rows_checked,
            "rows_failed": report.failed_rows.get(dim, 0),
            "rules_evaluated": len(rules),
            "rules_failed": len(failed_names),
            "failed_rules": ", ".join(failed_names) or "none",
            "failure_count": sum(o.failures for o in failed),
            "failures_by_rule": dg.MetadataValue.json({o.label: o.failures for o in failed}),
            # what each failed rule means, in words: the quality page tells the owner
            "reasons_by_rule": dg.MetadataValue.json(
                {o.rule.name: o.rule.description for o in failed}
            ),
            "blocking_rules": ", ".join(r.name for r in rules if r.blocking) or "none",
        }
        if any(o.distinct_keys is not None for o in failed):
            metadata["distinct_keys_by_rule"] = dg.MetadataValue.json(
                {o.label: o.distinct_keys for o in failed if o.distinct_keys is not None}
            )
        if failed:
            metadata["failures"] = dg.MetadataValue.md(md_table(table, limit=50))
            metadata["failure_samples"] = dg.MetadataValue.md(samples)
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=f"{prefix}_{dim}",
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if blocking_failed else dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )


def column_check(name: str, valid, *, nulls_valid: bool = True) -> pa.Check:
    """A named check over one column: `valid(pl.col(column))` is true where a value passes."""

    def fn(data) -> pl.LazyFrame:
        ok = valid(pl.col(data.key))
        return data.lazyframe.select(ok.fill_null(nulls_valid).alias(data.key))

    check = pa.Check(fn, name=name, ignore_na=False)
    # the columns it reads besides its own (a large table is validated from a copy of those)
    own = "\x00column"
    check.reads = tuple(sorted(set(valid(pl.col(own)).meta.root_names()) - {own}))
    return check


def frame_check(
    name: str,
    valid: pl.Expr,
    *,
    nulls_valid: bool = True,
    together: Sequence[str] | None = None,
) -> pa.Check:
    """A named check over whole rows: `valid` is true where a row passes.

    `valid` looks at one row at a time unless `together` says otherwise: it compares each row
    with the rows that agree with it on the `together` columns (a uniqueness or one-value-per-key
    rule), or with every row when `together` is empty (the newest date of the table). A large
    table is validated in parts by that reach (`validate_table`).
    """

    def fn(data) -> pl.LazyFrame:
        return data.lazyframe.select(valid.fill_null(nulls_valid).alias("valid"))

    check = pa.Check(fn, name=name, ignore_na=False)
    check.reads = tuple(sorted(set(valid.meta.root_names()) | set(together or ())))
    if together is not None:
        check.reach = (tuple(together), check.reads)
    return check


def schema_checks(schema: pa.DataFrameSchema) -> list[pa.Check]:
    """Every check of `schema`: its own (over rows), then its columns'."""
    return [*schema.checks, *(c for col in schema.columns.values() for c in col.checks)]


def reach(check: pa.Check) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(the columns rows must agree on to be compared, the columns read) of a check that compares
    rows with other rows; None for a check of one row at a time (see `frame_check`)."""
    return getattr(check, "reach", None)


def shared_reach(schema: pa.DataFrameSchema) -> tuple[str, ...]:
    """The columns on which every check of `schema` that compares rows compares them, when they
    all compare on the same ones (a uniqueness check over a row's identity): split by a hash of
    those, each part of a large table holds every group such a check compares. Empty where no
    check compares rows, where they differ, where one compares all rows, or where a check's reach
    is unknown (not built by `column_check` or `frame_check`) or a column must be unique."""
    checks = schema_checks(schema)
    unknown = any(not hasattr(c, "reads") for c in checks)
    if unknown or schema.unique or any(col.unique for col in schema.columns.values()):
        return ()
    reaches = {reach(c)[0] for c in checks if reach(c) is not None}
    return next(iter(reaches)) if len(reaches) == 1 else ()


def value_present(c: pl.Expr, cfg) -> pl.Expr:
    """Column test of a rule (`Rule(valid=...)`): a value that is neither empty nor one of the
    source's missing-value tokens (`missing_values` in the catalogue)."""
    stripped = c.str.strip_chars()
    return c.is_not_null() & (stripped != "") & ~stripped.is_in(cfg.missing_values)


def exact_copy(name: str, description: str) -> Rule:
    """The raw rule every source has: a delivered row that is an exact copy of another over the
    source's contract columns (all copies counted)."""
    return Rule(
        name,
        "uniqueness",
        description,
        valid_rows=lambda cfg: ~pl.struct(list(cfg.contract)).is_duplicated(),
        together=lambda cfg: list(cfg.contract),
    )


# The tests several sources' rules share, declared once.


def unique_rows(name: str, description: str, *columns: str, blocking: bool = True) -> Rule:
    """A uniqueness rule over rows: no two rows agree on every one of `columns` (a row's key or
    identity; all copies counted). It compares rows only with those that agree on `columns`."""
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    return Rule(
        name,
        "uniqueness",
        description,
        blocking=blocking,
        valid_rows=lambda _settings: ~key.is_duplicated(),
        together=columns,
    )


def one_value_per(
    name: str, description: str, column: str, per: str, *, known_only: bool = False
) -> Rule:
    """A consistency rule over rows: the rows of one `per` value (a ticket) all hold the same
    `column` value, an empty one counting as a value; the `per` values that break it are counted.
    With `known_only`, rows without a `per` value (a guest order's customer) pass."""

    def valid(_settings) -> pl.Expr:
        one = pl.col(column).n_unique().over(per) <= 1
        return pl.col(per).is_null() | one if known_only else one

    return Rule(name, "consistency", description, key=per, valid_rows=valid, together=(per,))


def copy_rules(stem: str, row: str) -> tuple[Rule, Rule, Rule]:
    """The quarantine rules of a delivered row that is an exact copy of another (the staging SQL's
    `copy_rule` macro names them): a copy within its delivery is a duplicate; a copy of a row of an
    earlier delivery or of another file (overlapping exports) is counted once, where it came first,
    and holding it back averts no bad decision. `stem` names the rules (`duplicate_<stem>`,
    `<stem>_in_earlier_delivery`, `<stem>_in_other_file`), `row` is what a row is ("event")."""
    a_row = f"{'an' if row[0] in 'aeiou' else 'a'} {row}"
    return (
        Rule(
            f"duplicate_{stem}",
            "uniqueness",
            f"exact copy of an earlier {row} of the same delivery",
        ),
        Rule(
            f"{stem}_in_earlier_delivery",
            "uniqueness",
            f"exact copy of {a_row} of an earlier delivery (an overlapping or re-cut export): "
            "counted once, in the delivery that brought it first",
            averts_bad_decision=False,
        ),
        Rule(
            f"{stem}_in_other_file",
            "uniqueness",
            f"exact copy of {a_row} delivered in another file (overlapping exports): counted once",
            averts_bad_decision=False,
        ),
    )


def trimmed(name: str, description: str, column: str, *, blocking: bool = False) -> Rule:
    """A consistency rule on a text column: no value has leading or trailing whitespace."""
    return Rule(
        name,
        "consistency",
        description,
        blocking=blocking,
        on=column,
        valid=lambda c, _settings: c == c.str.strip_chars(),
    )


def typed_columns(nullable: Sequence[str] = (), **dtypes) -> dict[str, pa.Column]:
    """Pandera columns of the given types, each required (no nulls) unless named in `nullable`."""
    return {name: pa.Column(dtype, nullable=name in nullable) for name, dtype in dtypes.items()}


def delivered_columns(names: Iterable[str]) -> dict[str, pa.Column]:
    """Pandera columns of rows as delivered: every value text, and any of them may be missing."""
    return {name: pa.Column(pl.String, nullable=True) for name in names}
