"""Split the deliveries of a source in play into staged rows and quarantined rows.

Each source has a staging query in the dbt project (the macro `staging_<source>`,
dbt/macros/staging/), which returns every delivered row once, typed, with `broken_rules`: the
names of the row-level rules it breaks (first = the reason it is held back). dbt renders it and
the statements around it for the warehouse's engine (lib.dbt_sql); they run here, on the
pipeline's connection, DuckDB or PostgreSQL alike.
Rows with no broken rule become `staged.<source>`; the others go to `quarantine.rows` with the rule,
its dimension and a readable reason. Both tables change in one transaction, so a failure leaves
the previous staged table and quarantine untouched, and rows_in = rows_clean + rows_quarantined.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ai_roi.lib.dbt_sql import render_json
from ai_roi.lib.pii import (
    PERSONAL_COLUMNS,
    PSEUDONYM_HEX_CHARS,
    PSEUDONYM_PREFIX,
    install_on_postgres,
    register_protector,
    register_redactor,
)
from ai_roi.lib.rules import RuleBook, quarantine_reasons
from ai_roi.lib.warehouse import engine_of, ensure_schemas, parsed_json, relation_columns
from ai_roi.sources import SourceConfig

# the dbt macros it renders, its code as much as this module (lib.code_versions)
CODE_PATHS = ("dbt/macros/staging", "dbt/macros/parsing.sql", "dbt/macros/cross_engine.sql")


def register_pseudonymiser(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Add `pseudonymise(text)`: keyed HMAC-SHA256, so identifiers join but cannot be read back
    (lib.pii.install_on_postgres gives PostgreSQL the same function)."""
    secret = key.encode()
    memo: dict[str, str] = {}

    def pseudonymise(values: pa.Array) -> pa.Array:
        # an identifier repeats on many rows: each distinct one is hashed once, then spread back
        distinct = pc.unique(values)
        out = []
        for value in distinct.to_pylist():
            if value is not None and value not in memo:
                digest = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
                memo[value] = PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]
            out.append(None if value is None else memo[value])
        return pa.array(out, pa.string()).take(pc.index_in(values, value_set=distinct))

    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function("pseudonymise")
    con.create_function(
        "pseudonymise", pseudonymise, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
    )


def register_privacy(con, key: str) -> None:
    """`redact_pii`, `pseudonymise` and `protect_record` on this connection (see lib.pii); on a
    PostgreSQL warehouse, in its `privacy` schema with the key set for this session
    (lib.pii.install_on_postgres)."""
    if engine_of(con) != "duckdb":
        install_on_postgres(con, key)
        return
    register_redactor(con)
    register_pseudonymiser(con, key)
    register_protector(con)


class StagingRefused(RuntimeError):
    """A new delivery cannot be published; nothing staged was changed and raw marks it refused."""


@dataclass(frozen=True)
class StageResult:
    rows_in: int
    rows_clean: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    flagged_rows: dict[str, int]
    rows_superseded: int = 0  # rows of a delivery whose month a later one restated
    deliveries: int = 0  # deliveries the staged table holds
    published: tuple[str, ...] = ()  # deliveries this staging accepted


# A row counts against max_quarantine_share when the rule that holds it back is one of a bad row,
# not a copy of a row delivered before (another file, an earlier delivery): overlapping exports
# are normal, and their copies are counted once, not refused.
COUNTS_AGAINST_SHARE = "r.averts_bad_decision"


def held_back(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """Quarantined rows of `source` that count against its max_quarantine_share."""
    return con.execute(
        "select count(*) from quarantine.rows q join quarantine.rules r"
        " on r.source = q.source and r.rule = q.rule"
        f" where q.source = $s and {COUNTS_AGAINST_SHARE}",
        {"s": source},
    ).fetchone()[0]


def candidate_table(source: str) -> str:
    """The table a source's staged batch is built and audited in before it is published.

    It lies beside the staged table, in the warehouse file, and publishing renames it into its
    place: no copy of every row (the copy took as long as building the batch; at 50x the order
    lines, batch and copy took the staged step from 110 s to 204 s). Its name starts
    with `_`, as every work table's does; a batch that is not published is dropped, and one a
    killed run left behind is replaced by the next.
    """
    return f"staged._candidate__{source}"


@dataclass(frozen=True)
class Candidate:
    """A staged batch built and not published yet: `table` holds its clean rows."""

    source: str
    config: SourceConfig
    pending: tuple[str, ...]  # the new deliveries it would accept
    held: int  # rows it holds back that count against max_quarantine_share
    quarantine_insert: str  # the statement that moves its rows that broke a rule to quarantine

    @property
    def table(self) -> str:
        return candidate_table(self.source)


def staging_settings(
    *, source: str, config: SourceConfig, now: datetime, delivered_columns: list[str]
) -> dict:
    """The settings a source's staging SQL reads (dbt/macros/staging/staging.sql says which):
    its catalogue entry (every field, every value its class derives from them or fixes), the
    columns of its deliveries in play (raw.<source>__current), its personal identifiers, and
    `latest_valid_at`, the time of the run (a date after it is in the future)."""
    derived = {
        name: getattr(config, name)
        for klass in type(config).__mro__
        if issubclass(klass, SourceConfig)  # its own, not pydantic's
        for name, member in vars(klass).items()
        if isinstance(member, property)
    }
    # what the source's kind fixes (e.g. the column a month is read from: period_column)
    fixed = {name: getattr(config, name) for name in type(config).__class_vars__}
    return {
        **config.model_dump(mode="json"),
        **derived,
        **fixed,
        "source": source,
        "delivered_columns": delivered_columns,
        "personal": list(PERSONAL_COLUMNS.get(source, ())),
        "latest_valid_at": now.isoformat(sep=" "),
    }


def staging_statements(con, *, source: str, config: SourceConfig, now: datetime) -> dict:
    """The statements of a source's staging on `con`'s engine, by name (see the dbt macro
    staging_statements)."""
    columns = relation_columns(con, f"raw.{source}__current")
    values = staging_settings(source=source, config=config, now=now, delivered_columns=columns)
    return render_json(engine_of(con), "staging_statements", values)


def _replace(con, kind: str, name: str, sql: str) -> None:
    """(Re)create the temporary `kind` (table, view) `name` as `sql` (PostgreSQL replaces no
    table, and a view only with the same columns)."""
    con.execute(f"drop {kind} if exists {name}")
    con.execute(f"create temp {kind} {name} as {sql}")


def prepare_staging(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    rulebook: RuleBook,
    config: SourceConfig,
    pseudonym_key: str,
    now: datetime,
) -> Candidate:
    """Build the staged rows of the deliveries in play into `candidate_table(source)`,
    publishing nothing.

    In play are the deliveries `raw.<source>__current` holds: the accepted ones and the new
    (pending) ones; with `replace_overlap` a month delivered again is read from its latest
    delivery only. A new delivery is refused here (`StagingRefused`, and raw marks it so) when more
    than `max_quarantine_share` of its rows are bad, or a snapshot shrinks below
    `snapshot_min_ratio` of the one it would replace.
    """
    ensure_schemas(con)
    register_privacy(con, pseudonym_key)
    pending = [
        load_id
        for (load_id,) in con.execute(
            "select load_id from raw._loads where source = $s and is_current"
            " and status = 'pending' order by loaded_at",
            {"s": source},
        ).fetchall()
    ]
    sql = staging_statements(con, source=source, config=config, now=now)
    # views on the work tables first: PostgreSQL drops nothing another object reads
    con.execute("drop view if exists _delivered_ranked")
    _replace(con, "view", "_delivered", sql["delivered"])
    # ranked in a statement of its own: read beside `_delivered` in one query, DuckDB would
    # materialise the whole delivery as a common subplan
    _replace(con, "table", "_copies", sql["copies"])
    _replace(con, "view", "_delivered_ranked", sql["delivered_ranked"])
    _replace(con, "table", "_candidates", sql["candidates"])
    emitted = {
        r
        for (r,) in con.execute("select distinct unnest(broken_rules) from _candidates").fetchall()
    }
    unknown = emitted - {r.name for r in rulebook}
    if unknown:
        raise RuntimeError(
            f"staging SQL for {source} emits rules missing from its rule book: {unknown}"
        )
    reasons = quarantine_reasons(rulebook, config.columns)
    con.execute("drop table if exists _rules")
    con.execute(
        "create temp table _rules"
        " (name varchar, dimension varchar, reason varchar, averts_bad_decision boolean)"
    )
    con.executemany(
        "insert into _rules values (?, ?, ?, ?)",
        [(r.name, r.dimension, reasons[r.name], r.averts_bad_decision) for r in rulebook],
    )
    refusals = _refusals(con, source, config, pending, clean=sql["clean"])
    if refusals:
        refuse(con, source, refusals)
    kept = [
        c
        for c in relation_columns(con, "_candidates")
        if c not in ("broken_rules", "_record", "_duplicate_of")
    ]
    con.execute(f"drop table if exists {candidate_table(source)}")
    con.execute(
        f"create table {candidate_table(source)} as select {', '.join(kept)} from _candidates"
        f" where {sql['clean']} order by _load_id, _delivery_row"
    )
    held = con.execute(
        "select count(*) from _candidates as c join _rules as r on r.name = c.broken_rules[1]"
        f" where {COUNTS_AGAINST_SHARE}"
    ).fetchall()[0][0]  # fetched to the end: the audit reads the candidate next
    return Candidate(source, config, tuple(pending), held, sql["quarantine_insert"])


def publish_staging(
    con: duckdb.DuckDBPyConnection,
    candidate: Candidate,
    *,
    run_id: str,
    flags: tuple[str, ...] = (),
) -> StageResult:
    """Publish an audited candidate: staged table, quarantine and deliveries' status at once."""
    source, config, pending = candidate.source, candidate.config, list(candidate.pending)
    in_play = con.execute(f"select count(*) from raw.{source}__current").fetchone()[0]
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        con.execute(f"drop table if exists staged.{source}")
        con.execute(f"alter table {candidate.table} rename to {source}")
        con.execute("drop table if exists _held_before")
        con.execute(
            "create temp table _held_before as select load_id, source_file,"
            " source_row, rule, run_id, quarantined_at from quarantine.rows where source = $source",
            {"source": source},
        )
        con.execute("delete from quarantine.rows where source = $source", {"source": source})
        con.execute("delete from quarantine.rules where source = $source", {"source": source})
        con.execute(
            "insert into quarantine.rules select $source, name, dimension, reason,"
            " averts_bad_decision from _rules",
            {"source": source},
        )
        con.execute(candidate.quarantine_insert, {"run_id": run_id})
        con.execute(
            "update raw._loads set status = 'accepted', reason = null, decided_at = $at"
            " where load_id in (select unnest($ids::text[]))",
            {"ids": pending, "at": now},
        )
        if config.delivery == "snapshot":
            con.execute(
                "update raw._loads set status = 'superseded', decided_at = $at"
                " where source = $s and status = 'accepted' and not is_current",
                {"s": source, "at": now},
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise

    rows_in = con.execute("select count(*) from _candidates").fetchone()[0]
    rows_clean = con.execute(f"select count(*) from staged.{source}").fetchone()[0]
    by_rule = dict(
        con.execute(
            "select rule, count(*) from quarantine.rows where source = $source group by 1 order by 2 desc",
            {"source": source},
        ).fetchall()
    )
    flagged = {}
    for flag in flags:
        flagged[flag] = con.execute(
            f"select count(*) from staged.{source} where {flag}"
        ).fetchone()[0]
    deliveries = con.execute(
        "select count(*) from raw._loads where source = $s and is_current and status = 'accepted'",
        {"s": source},
    ).fetchone()[0]
    return StageResult(
        rows_in,
        rows_clean,
        sum(by_rule.values()),
        by_rule,
        flagged,
        rows_superseded=in_play - rows_in,
        deliveries=deliveries,
        published=tuple(pending),
    )


@contextlib.contextmanager
def work_tables(con: duckdb.DuckDBPyConnection, source: str) -> Iterator[None]:
    """The staging of `source` on `con`: when it ends, published, refused or broken off by an
    error, its work tables are dropped (the batch too, where it was not published). After an
    error the first error is the one raised: a failed drop (an aborted transaction) is not."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # either engine's error
            _discard(con, source)
        raise
    _discard(con, source)


def _discard(con: duckdb.DuckDBPyConnection, source: str) -> None:
    con.execute("drop view if exists _delivered_ranked")
    for table in ("_candidates", "_copies", candidate_table(source)):
        con.execute(f"drop table if exists {table}")


def _refusals(
    con, source: str, config: SourceConfig, pending: list[str], *, clean: str
) -> dict[str, str]:
    """Why each new delivery cannot be published, by load id (none: all can); `clean`, the
    condition of a candidate row that breaks no rule."""
    if not pending:
        return {}
    refusals: dict[str, str] = {}
    limit = config.max_quarantine_share
    shares = con.execute(
        f"""
        select c._load_id, count(*),
               count(*) filter (where not ({clean}) and {COUNTS_AGAINST_SHARE})
        from _candidates as c left join _rules as r on r.name = c.broken_rules[1]
        where c._load_id in (select unnest($ids::text[])) group by 1
        """,
        {"ids": pending},
    ).fetchall()
    for load_id, total, held in shares:
        if total == 0 or held / total <= limit:
            continue
        by_rule = con.execute(
            "select broken_rules[1], count(*) from _candidates where _load_id = $l"
            f" and not ({clean}) group by 1 order by 2 desc",
            {"l": load_id},
        ).fetchall()
        rules = ", ".join(f"{rule} {n:,}" for rule, n in by_rule)
        refusals[load_id] = (
            f"{held:,} of {total:,} delivered rows ({held / total:.1%}) break row rules "
            f"({rules}), more than max_quarantine_share {limit:.0%}"
        )
    if config.delivery == "snapshot":
        previous = con.execute(
            "select rows from raw._loads where source = $s and status = 'accepted'"
            " and not is_current order by loaded_at desc limit 1",
            {"s": source},
        ).fetchone()
        for load_id in pending:
            rows = con.execute(
                "select rows from raw._loads where load_id = $l", {"l": load_id}
            ).fetchone()[0]
            if previous and rows < config.snapshot_min_ratio * previous[0]:
                refusals.setdefault(
                    load_id,
                    f"this snapshot has {rows:,} rows, {rows / previous[0]:.0%} of the "
                    f"{previous[0]:,} of the one it would replace (snapshot_min_ratio "
                    f"{config.snapshot_min_ratio:.0%}): a partial export would replace history",
                )
    return refusals


def refuse(
    con: duckdb.DuckDBPyConnection,
    source: str,
    refusals: dict[str, str],
    advice: str | None = None,
) -> None:
    """Mark the deliveries refused with their reasons, and stop: nothing else changes."""
    now = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        "update raw._loads set status = 'refused', reason = ?, decided_at = ? where load_id = ?",
        [(reason, now, load_id) for load_id, reason in refusals.items()],
    )
    files = {
        load_id: ", ".join(Path(f["path"]).name for f in parsed_json(listed))
        for load_id, listed in con.execute(
            "select load_id, files from raw._loads where load_id in (select unnest($ids::text[]))",
            {"ids": list(refusals)},
        ).fetchall()
    }
    lines = "; ".join(
        f"delivery {load_id[:12]} ({files.get(load_id, '?')}): {reason}"
        for load_id, reason in refusals.items()
    )
    settings = [k for k in ("max_quarantine_share", "snapshot_min_ratio") if k in lines]
    if advice is None:
        advice = "Fix the export and deliver it again" + (
            f", or raise sources.{source}.{' / '.join(settings)} in the source catalogue if this "
            "is expected."
            if settings
            else "."
        )
    raise StagingRefused(
        f"{source}: {lines}. Nothing was published: the staged table and quarantine still hold "
        f"the deliveries accepted before, and raw.{source} keeps the refused ones, marked so, "
        f"for inspection. {advice}"
    )
