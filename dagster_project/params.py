"""Typed view of params.yaml: the hyper-parameters and promotion bars of the AI use cases."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ParamsError(ValueError):
    """params.yaml is missing or holds a value the pipeline cannot use."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouterGate(_Strict):
    min_accuracy: float = Field(ge=0, le=1)
    min_macro_f1: float = Field(ge=0, le=1)
    min_auto_precision: float = Field(ge=0, le=1)
    min_automation_rate: float = Field(ge=0, le=1)
    tolerance: float = Field(ge=0, le=1)


class RouterParams(_Strict):
    word_ngrams: tuple[int, int]
    char_ngrams: tuple[int, int]
    C: float = Field(gt=0)
    embedding_weight: float = Field(ge=0, description="0 turns the sentence embedding off")
    calibration_folds: int = Field(ge=2)
    threshold_folds: int = Field(ge=2)
    target_precision: float = Field(gt=0, le=1)
    explanation_terms: int = Field(ge=1)
    gate: RouterGate


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
    tolerance: float = Field(ge=0)


class ForecastParams(_Strict):
    horizon_weeks: int = Field(ge=1)
    min_active_weeks: int = Field(ge=1)
    top_products: int = Field(ge=1)
    backtest_origins: int = Field(ge=1)
    season_length: int = Field(ge=1)
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


class Params(_Strict):
    seed: int
    router: RouterParams
    forecast: ForecastParams
    quality: QualityParams


def load_params(path: Path) -> Params:
    if not path.exists():
        raise ParamsError(f"{path} does not exist (set AI_ROI_PARAMS)")
    try:
        return Params.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        else:
            detail = str(exc)
        raise ParamsError(f"{path}: {detail}") from None
