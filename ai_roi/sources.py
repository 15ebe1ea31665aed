"""The source catalogue: where each source's files are, their format, and how their columns map.

A business points the pipeline at its own exports by editing `config/sources.yaml` (or pointing
`AI_ROI_SOURCES` at a copy); nothing about one particular file is hard-coded here.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ai_roi import yaml_text


class SourceConfigError(ValueError):
    """The source catalogue is missing, malformed or does not fit the pipeline's contract."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    delimiter: str = ","
    quote: str = '"'
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"
    header: bool = True


class Freshness(_Strict):
    """How fresh the newest event must be, judged at `as_of` (a fixed date for historical data)."""

    max_lag_hours: float = Field(
        gt=0, description="Expected cadence: newest event at most this old"
    )
    as_of: datetime | None = Field(
        default=None, description="Judge freshness as of this time; empty means now."
    )


class FileSpec(_Strict):
    path: Path = Field(
        description="A file, or a glob such as landing/orders/*.csv.gz: every file it matches "
        "is delivered, and a file that appears later is a new delivery."
    )
    partition: str | None = Field(
        default=None, description="Label stored with every row of this file, e.g. train/test."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Mappings that differ in these files (pipeline column -> column in the "
        "file); they override the source's columns, the others still apply.",
    )
    csv: CsvOptions | None = Field(
        default=None, description="CSV options of these files, if not the source's."
    )

    @property
    def is_glob(self) -> bool:
        return any(ch in str(self.path) for ch in "*?[")


Delivery = Literal["append", "replace_overlap", "snapshot"]


# The pipeline's contract per source: canonical column -> required?
ORDER_LINE_COLUMNS: dict[str, bool] = {
    "invoice_no": True,
    "stock_code": True,
    "description": False,
    "quantity": True,
    "invoice_date": True,
    "unit_price": True,
    "customer_id": False,
    "country": False,
}
TICKET_EVENT_COLUMNS: dict[str, bool] = {
    "ticket_id": True,
    "state": True,
    "is_active": False,
    "reassignment_count": True,
    "reopen_count": True,
    "update_count": False,
    "made_sla": True,
    "caller_id": False,
    "opened_by": False,
    "opened_at": True,
    "created_by": False,
    "created_at": False,
    "updated_by": False,
    "updated_at": True,
    "contact_type": False,
    "location": False,
    "category": True,
    "subcategory": False,
    "symptom": False,
    "impact": False,
    "urgency": False,
    "priority": True,
    "assignment_group": True,
    "assigned_to": False,
    "knowledge": False,
    "closed_code": False,
    "resolved_by": False,
    "resolved_at": True,
    "closed_at": False,
}
MESSAGE_COLUMNS: dict[str, bool] = {"text": True, "label": True}


class SourceConfig(_Strict):
    """Files of one source and how to read them."""

    files: list[FileSpec] = Field(min_length=1)
    delivery: Delivery = Field(
        default="append",
        description="How a delivery relates to the earlier ones. append: each new file adds its "
        "rows; replace_overlap: each new file restates the months it covers; snapshot: the "
        "files together are the whole data set and replace the previous delivery.",
    )
    snapshot_min_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A snapshot with fewer rows than this share of the one it replaces is "
        "refused before it is published (0 accepts any size).",
    )
    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = CsvOptions()
    columns: dict[str, str] = Field(description="pipeline column -> column name in your file")
    missing_values: list[str] = Field(
        default_factory=list, description="Tokens that mean 'no value', e.g. '?' or 'N/A'."
    )
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    freshness: Freshness | None = Field(
        default=None, description="Cadence of a time-based source; unset means no freshness check."
    )
    accepted_schema_changes: list[str] = Field(
        default_factory=list,
        description="File columns whose appearance, disappearance or type change you accept.",
    )
    max_text_length: int = Field(
        default=2_000,
        gt=1,
        description="A delivered value longer than this is quarantined (value_too_long, or "
        "text_length_out_of_range for message text).",
    )
    max_quarantine_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Above this share of quarantined rows the staged check blocks downstream.",
    )

    contract: ClassVar[dict[str, bool]] = {}
    # the raw column whose month a replace_overlap delivery restates; None: the source has none
    period_column: ClassVar[str | None] = None

    def mapping_for(self, spec: FileSpec) -> dict[str, str]:
        """pipeline column -> file column for the files of `spec`: the source's, then the file's."""
        return {**self.columns, **spec.columns}

    def csv_for(self, spec: FileSpec) -> CsvOptions:
        return spec.csv or self.csv

    @model_validator(mode="after")
    def _columns_fit_contract(self) -> SourceConfig:
        _check_mapping("columns", self.columns, self.contract)
        for i, spec in enumerate(self.files):
            if spec.columns:
                _check_mapping(f"files[{i}].columns", self.mapping_for(spec), self.contract)
        if self.delivery == "replace_overlap" and self.period_column is None:
            raise ValueError(
                "delivery replace_overlap needs a time column to know the months a delivery "
                "covers, and this source has none: use append or snapshot"
            )
        return self


def _check_mapping(where: str, mapping: dict[str, str], contract: dict[str, bool]) -> None:
    unknown = sorted(set(mapping) - set(contract))
    if unknown:
        raise ValueError(
            f"{where} maps unknown pipeline column(s) {unknown}; "
            f"the pipeline columns are {sorted(contract)}"
        )
    missing = sorted(c for c, required in contract.items() if required and c not in mapping)
    if missing:
        raise ValueError(
            f"{where} has no mapping for required pipeline column(s) {missing}: "
            "add '<pipeline column>: <column in your file>' for each"
        )
    targets = list(mapping.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ValueError(f"{where}: file column(s) {repeated} are mapped more than once")


class OrderLinesSource(SourceConfig):
    contract: ClassVar[dict[str, bool]] = ORDER_LINE_COLUMNS
    period_column: ClassVar[str | None] = "invoice_date"
    cancellation_prefix: str = Field(
        default="C", description="Invoice numbers starting with this are cancellations/returns."
    )
    product_code_pattern: str = Field(
        default=r"^\d{5}[A-Za-z]*$",
        description="Stock codes matching this regex are products; others (postage, fees) are not.",
    )
    max_abs_quantity: int = Field(default=10_000, gt=0, description="Larger ones are flagged.")
    max_plausible_quantity: int = Field(
        default=1_000_000,
        gt=0,
        description="Larger quantities are quarantined: no order line sells a million units.",
    )
    max_line_amount: float = Field(
        default=100_000_000,
        gt=0,
        description="Lines whose quantity times unit price is larger are quarantined.",
    )
    max_unit_price: float = Field(default=10_000, gt=0, description="Higher prices are flagged.")
    earliest_valid_date: date = date(2000, 1, 1)
    country_aliases: dict[str, str] = Field(default_factory=dict)
    unknown_country_labels: list[str] = Field(default_factory=list)

    @property
    def country_alias_from(self) -> list[str]:
        """The delivered country labels `country_aliases` renames, in its order."""
        return list(self.country_aliases)

    @property
    def country_alias_to(self) -> list[str]:
        """What each of `country_alias_from` is renamed to."""
        return list(self.country_aliases.values())

    @field_validator("product_code_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class TicketEventsSource(SourceConfig):
    contract: ClassVar[dict[str, bool]] = TICKET_EVENT_COLUMNS
    period_column: ClassVar[str | None] = "updated_at"
    valid_states: list[str] = Field(min_length=1)
    resolved_states: list[str] = Field(min_length=1)
    closed_states: list[str] = Field(default_factory=list)
    sla_hours: float = Field(
        default=0, ge=0, description="Unused when the file has a made_sla flag."
    )
    earliest_valid_date: date = date(2000, 1, 1)
    true_values: list[str] = Field(default_factory=lambda: ["true", "1", "yes", "y", "t"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "0", "no", "n", "f"])

    @model_validator(mode="after")
    def _states_consistent(self) -> TicketEventsSource:
        extra = sorted(set(self.resolved_states + self.closed_states) - set(self.valid_states))
        if extra:
            raise ValueError(f"resolved/closed states {extra} are not listed in valid_states")
        return self


class MessagesSource(SourceConfig):
    """Labelled messages: train and test files together are one data set (a snapshot)."""

    contract: ClassVar[dict[str, bool]] = MESSAGE_COLUMNS
    delivery: Delivery = "snapshot"
    label_set_path: Path | None = Field(
        default=None, description="JSON list of allowed labels; when absent, any label is allowed."
    )
    min_text_length: int = Field(default=2, ge=1)
    escalate_labels: list[str] = Field(
        default=[],
        description="Intents the router never answers: a message it reads as one goes to a person",
    )
    out_of_scope_labels: list[str] = Field(
        default=[],
        description="Labels of messages that are none of the business's intents: never learnt as "
        "an intent, they fit the router's scope threshold and measure its out-of-scope recall",
    )

    @property
    def label_set(self) -> list[str]:
        """Allowed labels from label_set_path (a JSON list), or [] when any label is allowed."""
        if self.label_set_path is None:
            return []
        expected = 'a JSON list of label strings, e.g. ["card_arrival", "lost_card"]'
        try:
            labels = json.loads(self.label_set_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SourceConfigError(
                f"label set {self.label_set_path} is not valid JSON: {exc.msg} at line "
                f"{exc.lineno}, column {exc.colno}; expected {expected} "
                "(sources.messages.label_set_path)"
            ) from None
        except OSError as exc:
            raise SourceConfigError(
                f"label set {self.label_set_path} cannot be read ({exc.strerror}); "
                "fix sources.messages.label_set_path"
            ) from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise SourceConfigError(f"{self.label_set_path}: expected {expected}")
        return labels

    @model_validator(mode="after")
    def _labels_are_distinct(self) -> MessagesSource:
        both = set(self.escalate_labels) & set(self.out_of_scope_labels)
        if both:
            raise ValueError(
                f"labels {sorted(both)} are both escalate_labels and out_of_scope_labels: an "
                "escalation label is an intent the router learns, an out-of-scope one is not"
            )
        return self


class SourceCatalog(_Strict):
    order_lines: OrderLinesSource
    ticket_events: TicketEventsSource
    messages: MessagesSource


def delivered_files(config: SourceConfig) -> list[tuple[FileSpec, Path]]:
    """Every file the source delivers now: each listed path, and each file its globs match.

    A glob matching nothing is an empty landing folder, not an error; a listed file that does not
    exist is (IngestError, at load time). A file matched by two entries is read once, by the first.
    """
    seen: set[Path] = set()
    out = []
    for spec in config.files:
        paths = sorted(_glob(spec.path)) if spec.is_glob else [spec.path]
        for path in paths:
            if path not in seen:
                seen.add(path)
                out.append((spec, path))
    return out


def _glob(pattern: Path) -> list[Path]:
    anchor = Path(pattern.anchor)
    return [p for p in anchor.glob(str(pattern.relative_to(anchor))) if p.is_file()]


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def load_catalog(path: Path) -> SourceCatalog:
    """Read and validate the catalogue; relative file paths are relative to the catalogue file."""
    if not path.exists():
        raise SourceConfigError(f"source catalogue {path} does not exist (set AI_ROI_SOURCES)")
    try:
        raw = yaml_text.load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or "sources" not in raw:
        raise SourceConfigError(f"{path} must have a top-level 'sources:' mapping")
    try:
        catalog = SourceCatalog.model_validate(raw["sources"])
    except ValidationError as exc:
        problems = "; ".join(
            f"sources.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SourceConfigError(f"{path}: {problems}") from None
    base = path.resolve().parent
    updates = {}
    for name in SourceCatalog.model_fields:
        source = getattr(catalog, name)
        files = [f.model_copy(update={"path": _resolve(base, f.path)}) for f in source.files]
        changes: dict = {"files": files}
        if isinstance(source, MessagesSource) and source.label_set_path is not None:
            changes["label_set_path"] = _resolve(base, source.label_set_path)
        updates[name] = source.model_copy(update=changes)
    return catalog.model_copy(update=updates)
