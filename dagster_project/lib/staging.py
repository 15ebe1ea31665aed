"""Split a source's current raw delivery into staged rows and quarantined rows.

Each source has `sql/staging/<source>.sql`, which returns every delivered row once, typed, with
`broken_rules`: the names of the row-level rules it breaks (first = the reason it is held back).
Rows with no broken rule become `staged.<source>`; the others go to `quarantine.rows` with the rule,
its dimension and a readable reason. Both tables change in one transaction, so a failure leaves
the previous staged table and quarantine untouched, and rows_in = rows_clean + rows_quarantined.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from dagster_project.lib.pii import PERSONAL_COLUMNS, register_protector, register_redactor
from dagster_project.lib.quality import RuleBook
from dagster_project.lib.warehouse import ensure_schemas, load_sql

PSEUDONYM_HEX_CHARS = 16
# A letter in front: a pseudonym made only of digits would look like a card or account number
# to the PII scan (1 in ~2,000 of them is; the real customer ids produced one).
PSEUDONYM_PREFIX = "p"
PSEUDONYM_PATTERN = rf"^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$"


def register_pseudonymiser(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Add `pseudonymise(text)`: keyed HMAC-SHA256, so identifiers join but cannot be read back."""
    secret = key.encode()
    memo: dict[str, str] = {}

    def pseudonymise(values: pa.Array) -> pa.Array:
        out = []
        for value in values.to_pylist():
            if value is None:
                out.append(None)
                continue
            if value not in memo:
                digest = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
                memo[value] = PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]
            out.append(memo[value])
        return pa.array(out, pa.string())

    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function("pseudonymise")
    con.create_function(
        "pseudonymise", pseudonymise, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
    )


def register_privacy(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """`redact_pii`, `pseudonymise` and `protect_record` on this connection (see lib.pii)."""
    register_redactor(con)
    register_pseudonymiser(con, key)
    register_protector(con)


def register_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(load_sql("staging/_macros"))


def quarantine_reasons(rulebook: RuleBook, columns: dict[str, str]) -> dict[str, str]:
    """Readable reason per rule, naming the column as it is called in the user's file."""
    reasons = {}
    for rule in rulebook:
        where = f" (column {columns[rule.column]!r})" if rule.column in columns else ""
        reasons[rule.name] = rule.description + where
    return reasons


class StagingRefused(RuntimeError):
    """Too much of a delivery breaks row rules to publish it; nothing staged was changed."""


@dataclass(frozen=True)
class StageResult:
    rows_in: int
    rows_clean: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    flagged_rows: dict[str, int]


def stage_source(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    rulebook: RuleBook,
    params: dict,
    columns: dict[str, str],
    run_id: str,
    pseudonym_key: str,
    flags: tuple[str, ...] = (),
    max_quarantine_share: float | None = None,
) -> StageResult:
    """Build `staged.<source>` and its quarantine rows from `raw.<source>__current`.

    When more than `max_quarantine_share` of the rows break a rule, nothing is published: the
    staged table and quarantine keep the last good delivery and `StagingRefused` says why.
    """
    ensure_schemas(con)
    register_macros(con)
    register_privacy(con, pseudonym_key)
    con.execute(
        f"create or replace temp table _candidates as {load_sql(f'staging/{source}')}", params
    )
    emitted = {
        r
        for (r,) in con.execute("select distinct unnest(broken_rules) from _candidates").fetchall()
    }
    unknown = emitted - {r.name for r in rulebook}
    if unknown:
        raise RuntimeError(
            f"staging SQL for {source} emits rules missing from its rule book: {unknown}"
        )

    if max_quarantine_share is not None:
        _refuse_if_mostly_bad(con, source, max_quarantine_share)
    reasons = quarantine_reasons(rulebook, columns)
    con.execute(
        "create or replace temp table _rules"
        " (name varchar, dimension varchar, reason varchar, averts_bad_decision boolean)"
    )
    con.executemany(
        "insert into _rules values (?, ?, ?, ?)",
        [(r.name, r.dimension, reasons[r.name], r.averts_bad_decision) for r in rulebook],
    )
    con.execute("begin transaction")
    try:
        con.execute(
            f"create or replace table staged.{source} as select * exclude (broken_rules, _record)"
            " from _candidates where len(broken_rules) = 0 order by _row_number"
        )
        con.execute("delete from quarantine.rows where source = $source", {"source": source})
        con.execute("delete from quarantine.rules where source = $source", {"source": source})
        con.execute(
            "insert into quarantine.rules select $source, name, dimension, reason,"
            " averts_bad_decision from _rules",
            {"source": source},
        )
        con.execute(
            load_sql("staging/_quarantine_insert"),
            {
                "source": source,
                "run_id": run_id,
                "personal": list(PERSONAL_COLUMNS.get(source, ())),
            },
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
    con.execute("drop table _candidates")
    return StageResult(rows_in, rows_clean, sum(by_rule.values()), by_rule, flagged)


def _refuse_if_mostly_bad(con: duckdb.DuckDBPyConnection, source: str, limit: float) -> None:
    total, held = con.execute(
        "select count(*), count(*) filter (where len(broken_rules) > 0) from _candidates"
    ).fetchone()
    if total == 0 or held / total <= limit:
        return
    by_rule = con.execute(
        "select broken_rules[1], count(*) from _candidates where len(broken_rules) > 0"
        " group by 1 order by 2 desc"
    ).fetchall()
    con.execute("drop table _candidates")
    rules = ", ".join(f"{rule} {n:,}" for rule, n in by_rule)
    raise StagingRefused(
        f"{source}: {held:,} of {total:,} delivered rows ({held / total:.1%}) break row rules "
        f"({rules}), more than max_quarantine_share {limit:.0%}. Nothing was published: the "
        f"staged table and quarantine still hold the last good delivery, and raw.{source} keeps "
        f"this one for inspection. Fix the file, or raise sources.{source}.max_quarantine_share "
        "if this share is expected."
    )
