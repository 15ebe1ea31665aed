"""The warehouse's SQL lives in dbt: the package's Python holds no DuckDB-only SQL.

What differs between DuckDB and PostgreSQL is written in the dbt project, in macros that
`adapter.dispatch` picks per engine (dbt/macros/), and reaches Python rendered by dbt
(lib.dbt_sql). This scan reads every text literal of `ai_roi/` (docstrings aside: they may name a
function to say why it is not used) and fails on a spelling only DuckDB understands, naming the
file, line and spelling.
"""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

PACKAGE = ROOT / "ai_roi"

# Spellings DuckDB accepts and PostgreSQL 15 does not (or reads otherwise), each with what it is.
DUCKDB_ONLY: dict[str, str] = {
    r"\bhash\s*\(": "DuckDB's hash()",
    r"\bduckdb_\w+\s*\(": "DuckDB's catalogue functions",
    r"\bcreate\s+or\s+replace\s+(temp\s+|temporary\s+)?(table|macro)\b": "create or replace table/macro",
    r"\blist_\w+\s*\(": "list functions",
    r"\blist\s*\(\s*distinct\b": "list(distinct …)",
    r"\blambda\s+\w+\s*:": "list lambdas",
    r"\bjson_keys\s*\(": "json_keys()",
    r"\bmap_from_entries\s*\(": "map_from_entries()",
    r"\bregexp_matches\s*\(": "regexp_matches() as a boolean",
    r"\bregexp_full_match\s*\(": "regexp_full_match()",
    r"\bread_(csv|parquet|json)\w*\s*\(": "file readers in SQL",
    r"\btry_strptime\s*\(|\bstrptime\s*\(": "strptime()",
    r"\btry_cast\s*\(": "try_cast()",
    r"\bstrftime\s*\(": "strftime()",
    r"\bstrlen\s*\(": "strlen()",
    r"\b(insert\s+into\s+\S+|union(\s+all)?)\s+by\s+name\b": "insert … by name / union by name",
    r"\browid\b": "rowid",
    r"\bexclude\s*\(": "select * exclude",
    r"\bunpivot\b": "unpivot",
    r"\bmedian\s*\(": "median()",
    r"\bdate_diff\s*\(|\bdatediff\s*\(": "date_diff()",
    r"\bany_value\s*\(": "any_value() (PostgreSQL 16)",
    r"\bqualify\b": "qualify",
    r"\binterval\s+\d+\s+\w+": "an unquoted interval",
    r"\bfirst\s*\(": "first()",
    r"\barg_(min|max)\s*\(": "arg_min()/arg_max()",
    r"\bepoch_ms\s*\(": "epoch_ms()",
    r"\bstruct_pack\s*\(": "struct_pack()",
    r"\bcount_if\s*\(": "count_if()",
    r"\bstring_split\s*\(": "string_split()",
    r"\bfloat\s*\[\s*\d+\s*\]": "a fixed-size array type",
}
PATTERN = re.compile("|".join(f"(?:{p})" for p in DUCKDB_ONLY), re.IGNORECASE)


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def duckdb_only_sql(source: str) -> list[tuple[int, str]]:
    """(line, spelling) of every DuckDB-only spelling in a module's text literals."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    for node in ast.walk(tree):  # an f-string's parts are read with the f-string
        if isinstance(node, ast.JoinedStr):
            skip |= {id(part) for part in ast.walk(node) if part is not node}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, placeholders aside
            text = "".join(v.value if isinstance(v, ast.Constant) else " {} " for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in skip:
                continue
            text = node.value
        else:
            continue
        found += [(node.lineno, m.start(), m.group(0)) for m in PATTERN.finditer(text)]
    return [(line, spelling) for line, _, spelling in sorted(found)]


def test_the_package_holds_no_duckdb_only_sql():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {spelling!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, spelling in duckdb_only_sql(path.read_text())
    ]
    assert not found, (
        "DuckDB-only SQL outside the dbt project's adapter macros (write it as a dispatched"
        " macro in dbt/macros/ and render it with lib.dbt_sql):\n" + "\n".join(found)
    )


def test_the_scan_finds_duckdb_only_sql_and_passes_portable_sql():
    source = '''
"""A docstring may say that DuckDB's hash() is not used."""
def part(con, key, n):
    """Nor list_contains() here."""
    con.execute(f"select hash({key}) % {n}, list_transform(xs, lambda x: x + 1)")
    con.execute("select * exclude (a) from t qualify row_number() over () = 1")
    return "insert into t by name select rowid from read_csv('f.csv')"
'''
    spellings = [s.lower() for _, s in duckdb_only_sql(source)]
    assert spellings == [
        "hash(",
        "list_transform(",
        "lambda x:",
        "exclude (",
        "qualify",
        "insert into t by name",
        "rowid",
        "read_csv(",
    ]
    portable = "select md5(a), count(*) filter (where b), array_agg(distinct c) from t"
    assert duckdb_only_sql(f"q = {portable!r}") == []
