"""What the owner's pages share: the templates (Jinja2, autoescaped), the message catalogue of each
language, the style, and how numbers and money are written.

A page's module gathers its figures and hands them to its template with `render`; words live in
`messages/<language>.yaml`, layout in `templates/`, so neither a translation nor a layout change
touches the code that reads the marts.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from ai_roi import yaml_text
from ai_roi.lib.rules import reason_column

HERE = Path(__file__).parent
LANGUAGES = ("en", "ko")
# The pages' language: params.yaml `roi.report_language`, unless this variable says otherwise.
LANGUAGE_ENV = "AI_ROI_REPORT_LANG"


def language(configured: str) -> str:
    """The language the pages are written in: AI_ROI_REPORT_LANG, else `configured`."""
    chosen = os.environ.get(LANGUAGE_ENV) or configured
    if chosen not in LANGUAGES:
        raise ValueError(f"{LANGUAGE_ENV}={chosen!r}: the reports speak {', '.join(LANGUAGES)}")
    return chosen


# the two pages, by the stem of their file name (reports/<stem>.html, in Korean <stem>.ko.html)
ROI_PAGE, QUALITY_PAGE = "roi_report", "quality"


def page_name(stem: str, language: str) -> str:
    """`stem.html` in English, `stem.<language>.html` in any other language."""
    return f"{stem}.html" if language == "en" else f"{stem}.{language}.html"


@cache
def messages(language: str) -> dict:
    """The message catalogue of `language` (messages/<language>.yaml)."""
    path = HERE / "messages" / f"{language}.yaml"
    return yaml_text.load(path.read_text(encoding="utf-8"))


@cache
def _reasons(language: str) -> dict:
    path = HERE / "messages" / f"reasons.{language}.yaml"
    return yaml_text.load(path.read_text(encoding="utf-8")) if path.exists() else {}


def reasons(language: str) -> dict[str, str]:
    """The rules' reasons in `language` by rule name (messages/reasons.<language>.yaml); none in
    English, whose words are each rule's description where it is declared."""
    return _reasons(language).get("reasons") or {}


def reason(language: str, rule: str | None, recorded: str) -> str:
    """A rule's reason in `language`: its translation, naming the file column the recorded
    (English) reason names; the recorded reason where there is no translation."""
    words = reasons(language).get(rule) if rule else None
    if words is None:
        return recorded
    column = reason_column(recorded)
    return _reasons(language)["column"].format(reason=words, column=column) if column else words


def num(value, digits: int = 1) -> str:
    """A figure to `digits` decimals with thousands separators; – where there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def money(value, currency: str, language: str) -> str:
    """An amount in the reporting currency: no minor unit for KRW, cents for USD."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if currency == "KRW":
        text = f"{abs(value):,.0f}"
        sign = "-" if value < 0 else ""
        return f"{sign}{text}원" if language == "ko" else f"{sign}₩{text}"
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def plain(value) -> str:
    """A value as written: whole numbers without decimals, others to four figures, None as –."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def score_class(score) -> str:
    """The colour band of a score: good from 99, fair from 95, poor below."""
    if score is None:
        return ""
    return "good" if score >= 99 else ("fair" if score >= 95 else "poor")


def sparkline(values: list[float | None], label: str, width: int = 160, height: int = 36) -> Markup:
    """A score's trend over runs as an inline SVG line (nothing for fewer than two runs)."""
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return Markup("")
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / (len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 4 - (v - low) / span * (height - 8):.1f}"
        for i, v in enumerate(points)
    )
    return Markup(
        '<svg width="{w}" height="{h}" role="img" aria-label="{label}">'
        '<polyline fill="none" stroke="#3b6fd8" stroke-width="2" points="{coords}"/></svg>'
    ).format(w=width, h=height, label=label, coords=coords)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, plain=plain, score_class=score_class)
    env.globals.update(sparkline=sparkline)
    return env


def render(template: str, language: str, **context) -> str:
    """`templates/<template>` in `language`: its messages as `t`, the rest as given."""
    return (
        environment()
        .get_template(template)
        .render(language=language, t=messages(language), **context)
    )
