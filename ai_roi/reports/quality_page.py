"""The quality page: one self-contained HTML file a business owner can open without any tool.

It leads with one screen per delivered source (orders, support tickets, messages): a status per
quality dimension with the score of the rows as delivered and its trend over the last runs, then
the three problems that matter most in plain words (what, how many rows, what it costs downstream,
what to do). The engineer's tables follow, collapsed. `summarise` is shared with the ROI report's
quality section; the words are in messages/<language>.yaml, the layout in templates/.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ai_roi.lib.rules import DIMENSIONS, dimension_scores
from ai_roi.lib.selection import raw_key
from ai_roi.reports import layout
from ai_roi.sources import SourceCatalog

# a status per dimension, worst last
PASS, WARN, FAIL, UNCHECKED = "pass", "warn", "fail", "none"
TOP_PROBLEMS = 3
SAMPLE_CHARS = 160  # a quarantined record as delivered, cut to this length on the page
DETAIL_CHARS = 200  # a whole-table check's summary among the problems (in full in the details)


@dataclass
class DimensionStatus:
    dimension: str
    status: str
    score: float | None  # of the rows as delivered (the source's raw asset)
    trend: list[float | None]  # that score after each of the last complete runs, oldest first
    checks: int
    failed: int


@dataclass
class Problem:
    kind: str  # "blocked", "quarantine" or "check"
    asset: str
    dimension: str
    reason: str
    rows: int | None
    averts_bad_decision: bool = False
    rule: str | None = None  # the rule the reason is of (its words are translated by it)

    @property
    def rank(self) -> tuple:
        order = {"blocked": 0, "quarantine": 1, "check": 2}[self.kind]
        return (order, -(self.rows or 0), self.asset, self.reason)


@dataclass
class SourceSummary:
    name: str
    delivered_rows: int | None
    dimensions: list[DimensionStatus]
    problems: list[Problem] = field(default_factory=list)

    @property
    def status(self) -> str:
        seen = {d.status for d in self.dimensions}
        return next((s for s in (FAIL, WARN, PASS) if s in seen), UNCHECKED)


def _status(rows: list[dict]) -> str:
    if not rows:
        return UNCHECKED
    if any(r.get("blocking_failures") for r in rows):
        return FAIL
    return WARN if any(r["checks_failed"] for r in rows) else PASS


def _by_run(history: list[dict]) -> dict[str, list[dict]]:
    by_run: dict[str, list[dict]] = defaultdict(list)
    for row in history:
        by_run[row["run_id"]].append(row)
    return by_run


def dimension_trend(history: list[dict]) -> dict[str, list[float | None]]:
    """Per dimension, each run's score (lib.rules.dimension_scores), oldest run first."""
    scores = [dimension_scores(rows) for rows in _by_run(history).values()]
    return {dim: [s[dim] for s in scores] for dim in DIMENSIONS}


def summarise(
    latest: list[dict],
    history: list[dict],
    sources_by_asset: dict[str, set[str]],
    failures: list[dict] = (),
    quarantine: list[dict] = (),
) -> list[SourceSummary]:
    """One summary per source, in the catalogue's order, and one of what several sources build
    (named ""): from each asset's latest complete evaluation (`latest`, marts.mart_data_quality
    rows), the runs before it (`history`), the failing checks and the quarantine by rule."""
    seen = {s for found in sources_by_asset.values() for s in found}
    names = [s for s in SourceCatalog.model_fields if s in seen]
    owner = {
        asset: next(iter(found)) if len(found) == 1 else ""
        for asset, found in sources_by_asset.items()
    }
    summaries = []
    for name in [*names, ""]:
        own = [r for r in latest if owner.get(r["asset_key"]) == name]
        raw = raw_key(name).to_user_string()
        delivered = [r for r in own if r["asset_key"] == raw]
        scores = dimension_scores(delivered)
        trend = dimension_trend([r for r in history if r["asset_key"] == raw])
        dims = []
        for dim in DIMENSIONS:
            of_dim = [r for r in own if r["dimension"] == dim]
            dims.append(
                DimensionStatus(
                    dim,
                    _status(of_dim),
                    scores[dim],
                    trend[dim],
                    sum(r["checks_run"] for r in of_dim),
                    sum(r["checks_failed"] for r in of_dim),
                )
            )
        problems = [
            Problem(
                "quarantine",
                f"staged/{name}",
                q["dimension"],
                q["reason"],
                q["rows"],
                bool(q.get("averts_bad_decision")),
                q["rule"],
            )
            for q in quarantine
            if q["source"] == name
        ]
        for f in failures:
            asset = f["asset_key"]
            # the raw layer's findings are what the quarantine acts on (or a known trait of the
            # export, such as guest orders): they are in the details, not among the problems
            if owner.get(asset) != name or (asset == raw and f["severity"] != "ERROR"):
                continue
            kind = "blocked" if f["severity"] == "ERROR" else "check"
            reasons = f.get("reasons") or {}
            by_rule = f.get("failures_by_rule") or {}
            if reasons:
                for rule, reason in reasons.items():
                    rows = sum(n for label, n in by_rule.items() if label.split(":")[0] == rule)
                    problems.append(
                        Problem(kind, asset, f["dimension"], reason, rows or None, rule=rule)
                    )
            else:  # a check of the table or model as a whole: its summary, cut to a line
                detail = _cut(str(f["detail"]), DETAIL_CHARS)
                problems.append(Problem(kind, asset, f["dimension"], detail, None))
        summaries.append(
            SourceSummary(
                name,
                delivered[0]["rows_checked"] if delivered else None,
                dims,
                sorted(problems, key=lambda p: p.rank),
            )
        )
    return [s for s in summaries if s.name or any(d.status != UNCHECKED for d in s.dimensions)]


def _coverage_rows(coverage: list[dict]) -> list[list]:
    rows = [
        [
            r["asset_key"],
            r["dimension"],
            r["checks"],
            r["columns"],
            r["columns_covered"],
            None if not r["columns"] else round(100 * r["columns_covered"] / r["columns"], 1),
        ]
        for r in coverage
        if r["checks"] or r["columns"]
    ]
    return sorted(rows, key=lambda r: (r[0], DIMENSIONS.index(r[1])))


def render_quality_page(data: dict, language: str = "en") -> str:
    """The page in `language` from what the quality page asset gathered: each asset's latest rows
    (`latest`) and the runs before (`history`), the failing checks, the quarantine by rule, the
    coverage and which sources each asset is built from (`sources_by_asset`)."""
    trend = dimension_trend(data["history"])
    coverage = data["coverage"]
    cards = []
    for dim in DIMENSIONS:
        values = [v for v in trend[dim] if v is not None]
        of_dim = [r for r in coverage if r["dimension"] == dim]
        cards.append(
            {
                "dimension": dim,
                "latest": f"{values[-1]:.2f}" if values else "–",
                "trend": trend[dim],
                "covered": sum(r["checks"] > 0 for r in of_dim),
                "assets": len(of_dim),
            }
        )
    lineage = data["sources_by_asset"]
    sources = summarise(
        data["latest"], data["history"], lineage, data["failures"], data["quarantine"]
    )
    for problem in (p for s in sources for p in s.problems):
        problem.reason = layout.reason(language, problem.rule, problem.reason)
    # worst first: what needs attention opens the table
    latest = sorted(
        data["latest"],
        key=lambda r: (r["score"] is None, r["score"] or 0, -r["checks_failed"], r["asset_key"]),
    )
    return layout.render(
        "quality_page.html.j2",
        language,
        run_id=data.get("run_id") or "–",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cards=cards,
        sources=sources,
        products_of={
            s.name: {a for a, found in lineage.items() if s.name in found} for s in sources
        },
        top=TOP_PROBLEMS,
        latest=[
            [r["asset_key"], r["dimension"], r["score"], r["check_pass_rate"], r["checks_failed"]]
            for r in latest
        ],
        score_cell=lambda i, value: layout.score_class(value) if i == 2 else "",
        failures=[
            [f["severity"], f["asset_key"], f["check_name"], f["dimension"], f["detail"]]
            for f in data["failures"]
        ],
        quarantine=[
            [
                q["source"],
                q["rule"],
                q["dimension"],
                q["rows"],
                layout.reason(language, q["rule"], q["reason"]),
                _cut(q["sample"]),
            ]
            for q in data["quarantine"]
        ],
        sample_cell=lambda i, value: "sample" if i == 5 else "",
        coverage=_coverage_rows(coverage),
        roi_page=layout.page_name(layout.ROI_PAGE, language),
    )


def _cut(text: str | None, chars: int = SAMPLE_CHARS) -> str | None:
    if text is None or len(text) <= chars:
        return text
    return text[: chars - 1] + "…"
