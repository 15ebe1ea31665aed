"""The quality page: one self-contained HTML file a business owner can open without any tool."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape

from dagster_project.lib.quality import DIMENSIONS, dimension_scores

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e6e8ef;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.good{background:#e3f5e8}.fair{background:#fff4d6}.poor{background:#fde2e1}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:8px;padding:.7rem 1rem;min-width:170px}
.card b{font-size:1.5rem;display:block}.muted{color:#667}
.stale{background:#fff3cd;border:2px solid #b45309;padding:.5rem 1rem;margin-bottom:1rem}code{font-size:.85rem}
"""


def _cell(value, numeric: bool = False) -> str:
    text = "–" if value is None else (f"{value:,}" if isinstance(value, int) else str(value))
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def _score_class(score) -> str:
    if score is None:
        return ""
    return "good" if score >= 99 else ("fair" if score >= 95 else "poor")


def html_table(rows: list[dict], columns: list[str], numeric: set[str] = frozenset()) -> str:
    """`rows` under the headers `columns`; `numeric` columns right-aligned; None shown as –."""
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            cell = _cell(row.get(c), c in numeric)
            if c == "score":
                cell = cell.replace("<td", f'<td class="{_score_class(row.get(c))}"', 1)
            cells.append(cell)
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _sparkline(values: list[float | None], width: int = 160, height: int = 36) -> str:
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return '<span class="muted">one run so far</span>'
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / (len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 4 - (v - low) / span * (height - 8):.1f}"
        for i, v in enumerate(points)
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="score over runs">'
        f'<polyline fill="none" stroke="#3b6fd8" stroke-width="2" points="{coords}"/></svg>'
    )


def dimension_trend(history: list[dict]) -> dict[str, list[float | None]]:
    """Per dimension, each run's score (lib.quality.dimension_scores), oldest run first."""
    by_run: dict[str, list[dict]] = defaultdict(list)
    for row in history:
        by_run[row["run_id"]].append(row)
    scores = [dimension_scores(rows) for rows in by_run.values()]
    return {dim: [s[dim] for s in scores] for dim in DIMENSIONS}


def render_quality_page(data: dict) -> str:
    trend = dimension_trend(data["history"])
    coverage = data["coverage"]
    cards = []
    for dim in DIMENSIONS:
        values = [v for v in trend[dim] if v is not None]
        of_dim = [r for r in coverage if r["dimension"] == dim]
        covered = sum(r["checks"] > 0 for r in of_dim)
        latest = f"{values[-1]:.2f}" if values else "–"
        cards.append(
            f'<div class="card">{escape(dim)}<b>{latest}</b>'
            f'<span class="muted">score now</span><br>{_sparkline(trend[dim])}<br>'
            f'<span class="muted">{covered} of {len(of_dim)} assets checked</span></div>'
        )
    coverage_rows = [
        {
            **r,
            "columns_covered_pct": None
            if not r["columns"]
            else round(100 * r["columns_covered"] / r["columns"], 1),
        }
        for r in coverage
        if r["checks"] or r["columns"]
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data quality</title><style>{STYLE}</style></head>
<body>
<h1>Data quality</h1>
<p class="muted">Run {escape(str(data.get("run_id") or "–"))} · generated {generated}</p>
<h2>Scores by dimension</h2>
<p>Score = percentage of an asset's rows that pass every row-level rule of the dimension.
Table-level checks (volume, freshness, schema change, drift, model gates) have no score; they count
in the check pass rate.</p>
<div class="cards">{"".join(cards)}</div>
<h2>Last run, per asset</h2>
{html_table(data["latest"], ["asset_key", "dimension", "score", "check_pass_rate", "checks_failed"], {"score", "check_pass_rate", "checks_failed"})}
<h2>Failed and warning checks, each at its latest run</h2>
{html_table(data["failures"], ["severity", "asset_key", "check_name", "dimension", "detail"])}
<h2>Quarantine by rule</h2>
<p>Rows held back from the staged layer with the rule they broke; nothing is dropped.</p>
{html_table(data["quarantine"], ["source", "rule", "dimension", "rows", "reason", "sample"], {"rows"})}
<h2>Check coverage</h2>
<p>Per asset and dimension: how many checks look at it, and the share of its columns at least one
of them checks. Files and models (no table) have no column count.</p>
{html_table(coverage_rows, ["asset_key", "dimension", "checks", "columns", "columns_covered", "columns_covered_pct"], {"checks", "columns", "columns_covered", "columns_covered_pct"})}
</body></html>
"""
