"""Typed view of params.yaml: the hyper-parameters and promotion bars of the AI use cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ai_roi import yaml_text


class ParamsError(ValueError):
    """params.yaml is missing or holds a value the pipeline cannot use."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouterGate(_Strict):
    min_accuracy: float = Field(ge=0, le=1)
    min_macro_f1: float = Field(ge=0, le=1)
    min_auto_precision: float = Field(ge=0, le=1)
    min_automation_rate: float = Field(ge=0, le=1)
    min_oos_recall: float = Field(
        ge=0,
        le=1,
        description="Share of messages of intents never learnt that must go to a person, in the "
        "unseen-intent evaluation (router.open_set)",
    )
    tolerance: float = Field(ge=0, le=1)


class FairnessParams(_Strict):
    max_gap: float = Field(
        gt=0, le=1, description="Largest allowed spread of a metric between segments; a share"
    )
    min_segment_size: int = Field(ge=1, description="Segments with fewer messages are not judged")
    length_bins: tuple[int, ...] = Field(
        min_length=1, description="Upper word counts of the message-length bands, ascending"
    )

    @model_validator(mode="after")
    def _ascending(self) -> FairnessParams:
        if list(self.length_bins) != sorted(set(self.length_bins)) or self.length_bins[0] < 1:
            raise ValueError("length_bins must be ascending positive word counts")
        return self


class ScopeParams(_Strict):
    unknown_recall: float = Field(
        ge=0,
        lt=1,
        description="Share of messages of no learnt intent the scope threshold sends to a person; "
        "0 turns the scope off",
    )
    neighbours: int = Field(ge=1, description="Nearest training messages the scope compares with")


class OpenSetParams(_Strict):
    unseen_share: float = Field(gt=0, lt=1, description="Share of the intents held out entirely")
    seeds: tuple[int, ...] = Field(
        min_length=1, description="One evaluation per seed, each holding out other intents"
    )


class RouterParams(_Strict):
    word_ngrams: tuple[int, int]
    char_ngrams: tuple[int, int]
    C: float = Field(gt=0)
    embedding_weight: float = Field(ge=0, description="0 turns the sentence embedding off")
    cv_folds: int = Field(ge=2)
    target_precision: float = Field(gt=0, le=1)
    explanation_terms: int = Field(ge=1)
    scope: ScopeParams
    open_set: OpenSetParams
    gate: RouterGate
    fairness: FairnessParams


class ForecastModel(_Strict):
    loss: Literal["quantile", "absolute_error", "poisson", "squared_error"]
    quantile: float = Field(default=0.5, gt=0, lt=1)
    max_iter: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    max_leaf_nodes: int = Field(ge=2)
    min_samples_leaf: int = Field(ge=1)


class ForecastGate(_Strict):
    max_wape_ratio_to_naive: float = Field(gt=0)
    max_wape_ratio_to_seasonal_naive: float = Field(gt=0)
    max_abs_bias: float = Field(
        default=0.2,
        gt=0,
        description="Largest share by which the backtest may over- or under-forecast total "
        "demand: a biased model stocks out (or over-stocks) even when its WAPE beats naive",
    )
    tolerance: float = Field(ge=0)


class ForecastParams(_Strict):
    horizon_weeks: int = Field(ge=1)
    min_active_weeks: int = Field(ge=1)
    top_products: int = Field(ge=1)
    backtest_origins: int = Field(ge=1)
    season_length: int = Field(ge=1, description="Seasonal-naive season in weeks, short history")
    yearly_season_weeks: int = Field(
        default=52, ge=2, description="The season once the history spans min_years_for_yearly"
    )
    min_years_for_yearly: int = Field(
        default=2,
        ge=1,
        description="Years (yearly_season_weeks each) of history from which the seasonal-naive "
        "baseline uses the yearly season and the model gets year-ago features",
    )
    year_ago_features: bool = Field(
        default=False,
        description="Features of the target week a year earlier; set by ml.forecast.seasonal for "
        "a history of min_years_for_yearly years, true here forces them (NaN where too early)",
    )
    moving_average_weeks: int = Field(ge=1)
    lags: int = Field(ge=1)
    interval: tuple[float, float]
    model: ForecastModel
    gate: ForecastGate

    @model_validator(mode="after")
    def _interval_ordered(self) -> ForecastParams:
        low, high = self.interval
        if not 0 < low < high < 1:
            raise ValueError("interval must be two quantiles with 0 < low < high < 1")
        return self


class VolumeParams(_Strict):
    sensitivity: float = Field(
        gt=0, description="Band half-width in robust standard deviations (1.4826 x MAD)"
    )
    min_history: int = Field(ge=2, description="Fewer earlier loads or months: no band, pass")
    min_change: float = Field(ge=0, description="Smallest relative change ever flagged")
    history_window: int = Field(ge=2, description="Earlier loads the band is computed from")


class DriftParams(_Strict):
    psi_warn: float = Field(gt=0, description="Population stability index that warns")
    vocabulary_warn: float = Field(
        gt=0, le=1, description="Share of new-data words unseen in training that warns"
    )
    share_change_warn: float = Field(
        gt=0, le=1, description="Change in the share of zero-demand weeks that warns"
    )
    bins: int = Field(ge=2, le=50)
    recent_weeks: int = Field(ge=1, description="Demand weeks compared with the earlier ones")


class QualityParams(_Strict):
    volume: VolumeParams
    drift: DriftParams


def _share(description: str) -> object:
    return Field(
        ge=0, le=1, description=f"{description}; a share between 0 and 1, not a percentage"
    )


class SupportAssumptions(_Strict):
    agent_cost_per_hour: float = Field(gt=0, description="Loaded cost of one agent hour")
    minutes_per_ticket: float = Field(gt=0, le=24 * 60, description="Agent minutes per ticket")
    tickets_per_month: float | Literal["measured"] = Field(
        description="Tickets a month; `measured` = mean of the complete months in the support data"
    )
    messages_per_ticket: float = Field(gt=0, description="Messages the router reads per ticket")
    in_scope_share: float | Literal["measured"] = Field(
        default="measured",
        description="Share of the messages that are one of the router's intents; `measured` = "
        "the share of labelled messages of a learnt intent. The rest go to a person.",
    )
    sla_breach_cost: float = Field(ge=0, description="Cost of one ticket that misses its SLA")

    @model_validator(mode="after")
    def _positive_volume(self) -> SupportAssumptions:
        if self.tickets_per_month != "measured" and self.tickets_per_month <= 0:
            raise ValueError("tickets_per_month must be `measured` or a number above 0")
        if self.in_scope_share != "measured" and not 0 < self.in_scope_share <= 1:
            raise ValueError("in_scope_share must be `measured` or a share above 0, at most 1")
        return self


class AiCosts(_Strict):
    price_per_1k_tokens: float = Field(ge=0, description="AI API price per 1,000 tokens")
    tokens_per_message: float = Field(ge=0, description="Tokens (in + out) per routed message")
    build_cost: float = Field(ge=0, description="One-off cost to build, booked in month 0")
    monthly_run_cost: float = Field(ge=0, description="Hosting, monitoring and upkeep a month")
    monthly_api_budget: float = Field(gt=0, description="FinOps budget for AI API spend a month")


class InventoryAssumptions(_Strict):
    order_currency_rate: float = Field(
        gt=0, description="Reporting-currency units per unit of the order data's currency"
    )
    product_margin: float = _share("Margin on the selling price")
    holding_cost_rate: float = _share("Cost of holding stock a year, as a share of its cost")
    weeks_excess_held: float = Field(gt=0, le=52, description="Weeks excess stock is carried")


class DataQualityAssumptions(_Strict):
    bad_decision_cost: float = Field(ge=0, description="Cost of one decision made on bad data")
    bad_decision_rate: float = _share("Decisions caused per bad row reaching a KPI or a model")


class MonteCarloParams(_Strict):
    draws: int = Field(ge=100, le=100_000)
    ranges: dict[str, tuple[float, float]] = Field(
        description="Low and high of each uncertain assumption as multiples of its value "
        "(e.g. [0.8, 1.2]); drawn from a triangular distribution peaking at the value"
    )


class RoiParams(_Strict):
    currency: Literal["KRW", "USD"]
    support: SupportAssumptions
    ai: AiCosts
    inventory: InventoryAssumptions
    data_quality: DataQualityAssumptions
    pilot_weeks: int = Field(ge=1, description="Last weeks of support data read as the pilot")
    horizon_months: int = Field(ge=12, le=120, description="Evaluation horizon")
    sensitivity: float = Field(gt=0, lt=1, description="One-at-a-time swing, e.g. 0.2 = ±20 %")
    monte_carlo: MonteCarloParams
    report_language: Literal["en", "ko"]
    report_min_week_tickets: int = Field(
        default=5, ge=1, description="Fewest tickets a week needs to draw its resolution hours"
    )

    def assumptions(self) -> dict[str, float]:
        """The numeric assumptions by name (measured volume left out)."""
        out: dict[str, float] = {}
        for group in (self.support, self.ai, self.inventory, self.data_quality):
            for name, value in group.model_dump().items():
                if isinstance(value, int | float):
                    out[name] = float(value)
        return out

    @model_validator(mode="after")
    def _known_ranges(self) -> RoiParams:
        known = self.assumptions()
        for name, (low, high) in self.monte_carlo.ranges.items():
            if name not in known:
                raise ValueError(
                    f"monte_carlo.ranges.{name}: not an assumption; one of {sorted(known)}"
                )
            if not 0 <= low <= 1 <= high:
                raise ValueError(
                    f"monte_carlo.ranges.{name}: [{low}, {high}] are multiples of the value; "
                    "they need 0 <= low <= 1 <= high"
                )
        return self


class RetentionParams(_Strict):
    dbt_target_runs: int = Field(
        default=3,
        ge=1,
        description="dbt target folders kept per dbt asset; each dbt invocation writes one "
        "(logs, run results, compiled SQL), older ones are deleted after a build",
    )
    check_history_runs: int = Field(
        default=200,
        ge=2,
        description="runs whose check results and coverage rows the quality history keeps "
        "(quality.check_results, quality.check_coverage); older runs' rows are deleted when the "
        "quality page is built",
    )


class AutomationParams(_Strict):
    refresh_cron: str = Field(
        default="0 6 * * 1",
        description="When the weekly_refresh schedule runs the whole pipeline (cron; Monday 06:00)",
    )
    timezone: str = Field(default="UTC", description="Time zone of refresh_cron")


class PartitionParams(_Strict):
    start_month: date = Field(
        default=date(2000, 1, 1),
        description="First monthly partition of the period marts (fct_order_lines, "
        "fct_support_tickets), the first a backfill can name. Builds of every month cover "
        "earlier rows too",
    )
    end_month: date | None = Field(
        default=None,
        description="Last monthly partition; none: the current month. Every partition costs "
        "Dagster a few events per period mart and build, so a history that ended long ago "
        "(the embedded data) names its last month",
    )

    @field_validator("start_month", "end_month", mode="before")
    @classmethod
    def _quoted(cls, value):
        # YAML reads an unquoted 2010-12-01 as a date, which DVC cannot take as a parameter
        if isinstance(value, date):
            raise ValueError(f'write it in quotes, "{value.isoformat()}": DVC reads params.yaml')
        return value

    @field_validator("start_month", "end_month")
    @classmethod
    def _first_of_month(cls, value: date | None) -> date | None:
        if value is not None and value.day != 1:
            raise ValueError(f"{value} is not the first day of a month")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> PartitionParams:
        if self.end_month is not None and self.end_month < self.start_month:
            raise ValueError(f"end_month {self.end_month} is before start_month {self.start_month}")
        return self


class Params(_Strict):
    seed: int
    router: RouterParams
    forecast: ForecastParams
    quality: QualityParams
    roi: RoiParams
    retention: RetentionParams = Field(default_factory=RetentionParams)
    automation: AutomationParams = Field(default_factory=AutomationParams)
    partitions: PartitionParams = Field(default_factory=PartitionParams)


def load_params(path: Path) -> Params:
    if not path.exists():
        raise ParamsError(f"{path} does not exist (set AI_ROI_PARAMS)")
    try:
        return Params.model_validate(yaml_text.load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}{_hint(e['loc'])}"
                for e in exc.errors()
            )
        else:
            detail = str(exc)
        raise ParamsError(f"{path}: {detail}") from None


def _hint(loc: tuple) -> str:
    """The field's description (its unit), so an error says what the value should have been."""
    model: type[BaseModel] | None = Params
    field = None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            break
        field = model.model_fields[part]
        annotation = field.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return f" ({field.description})" if field is not None and field.description else ""
