"""Weekly product demand forecaster with a rolling-origin backtest against naive baselines.

The series are a panel: products x consecutive weeks of units. A single gradient-boosting model,
shared by all products, predicts each horizon directly from lags and recent averages of the
product's own history. Baselines: last week (naive), the same week one season back (seasonal
naive) and the mean of the last weeks (moving average).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from ai_roi.params import ForecastParams

BASELINES = ("naive", "seasonal_naive", "moving_average")
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


@dataclass(frozen=True)
class Panel:
    products: list[str]
    weeks: pd.DatetimeIndex
    units: np.ndarray  # products x weeks

    @classmethod
    def from_long(cls, frame: pd.DataFrame) -> Panel:
        """From rows (stock_code, week_start, units); missing product-weeks are zero demand."""
        wide = frame.pivot_table(
            index="stock_code", columns="week_start", values="units", aggfunc="sum"
        )
        weeks = pd.date_range(wide.columns.min(), wide.columns.max(), freq="7D")
        wide = wide.reindex(columns=weeks, fill_value=0).fillna(0).sort_index()
        return cls(list(wide.index), weeks, wide.to_numpy(dtype=float))


def seasonal(p: ForecastParams, panel: Panel) -> ForecastParams:
    """`p` for this panel's history: with at least `min_years_for_yearly` years of weeks, the
    seasonal-naive baseline uses the yearly season and the model gets year-ago features; a
    shorter history keeps `season_length` (one year of weeks cannot show a yearly pattern twice).
    """
    if panel.units.shape[1] < p.min_years_for_yearly * p.yearly_season_weeks:
        return p
    return p.model_copy(update={"season_length": p.yearly_season_weeks, "year_ago_features": True})


def baseline(name: str, history: np.ndarray, h: int, p: ForecastParams) -> np.ndarray:
    """Forecast h weeks ahead from `history` (products x weeks up to the origin)."""
    if name == "naive":
        return history[:, -1]
    if name == "seasonal_naive":
        m = p.season_length
        back = m * ((h - 1) // m + 1) - h  # weeks before the origin of the same season position
        return history[:, -1 - back]
    if name == "moving_average":
        return history[:, -p.moving_average_weeks :].mean(axis=1)
    raise ValueError(f"unknown baseline {name}")


FEATURES_FIXED = (
    "horizon",
    "ma_4",
    "ma_8",
    "std_8",
    "mean_to_date",
    "active_share_13",
    "weeks_since_sale",
    "log_level",
)
LEVEL_WEEKS = 13


YEAR_AGO = ("year_ago", "year_ago_ma_3")


def feature_names(p: ForecastParams) -> list[str]:
    names = [f"lag_{k}" for k in range(1, p.lags + 1)] + list(FEATURES_FIXED)
    return names + list(YEAR_AGO) if p.year_ago_features else names


def _year_ago(units: np.ndarray, week: int, p: ForecastParams) -> list[np.ndarray]:
    """Units of the target week a year earlier, and the mean of it and its neighbours; NaN
    (which the model handles as missing) where the history does not reach back that far."""
    back = week - p.yearly_season_weeks
    missing = np.full(units.shape[0], np.nan)
    same = units[:, back] if back >= 0 else missing
    around = units[:, back - 1 : back + 2].mean(axis=1) if back >= 1 else missing
    return [same, around]


def features_at(
    units: np.ndarray, t: int, h: int, p: ForecastParams
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every product at origin week index t (inclusive) for horizon h, and its level.

    Quantities are divided by the product's level (mean of the last 13 weeks + 1), so one model
    learns the shape of demand across products of very different size.
    """
    window = lambda n: units[:, max(0, t - n + 1) : t + 1]  # noqa: E731
    level = window(LEVEL_WEEKS).mean(axis=1) + 1
    sold = units[:, : t + 1] > 0
    weeks_since = np.where(sold.any(axis=1), np.argmax(sold[:, ::-1], axis=1), t + 1)
    scaled = lambda v: v / level  # noqa: E731
    x = np.column_stack(
        [
            *[scaled(units[:, t - k + 1]) for k in range(1, p.lags + 1)],
            np.full(units.shape[0], h),
            scaled(window(4).mean(axis=1)),
            scaled(window(8).mean(axis=1)),
            scaled(window(8).std(axis=1)),
            scaled(units[:, : t + 1].mean(axis=1)),
            (window(13) > 0).mean(axis=1),
            weeks_since,
            np.log(level),
            *([scaled(v) for v in _year_ago(units, t + h, p)] if p.year_ago_features else []),
        ]
    )
    return x, level


def training_set(units: np.ndarray, last: int, p: ForecastParams) -> tuple[np.ndarray, np.ndarray]:
    """Rows (product, origin s, horizon h) with s >= lags - 1 and target week s + h <= last."""
    xs, ys = [], []
    for h in range(1, p.horizon_weeks + 1):
        for s in range(p.lags - 1, last - h + 1):
            x, level = features_at(units, s, h, p)
            xs.append(x)
            ys.append(units[:, s + h] / level)
    return np.vstack(xs), np.concatenate(ys)


def fit_model(
    units: np.ndarray, last: int, p: ForecastParams, seed: int
) -> HistGradientBoostingRegressor:
    x, y = training_set(units, last, p)
    model = HistGradientBoostingRegressor(
        loss=p.model.loss,
        quantile=p.model.quantile if p.model.loss == "quantile" else None,
        max_iter=p.model.max_iter,
        learning_rate=p.model.learning_rate,
        max_leaf_nodes=p.model.max_leaf_nodes,
        min_samples_leaf=p.model.min_samples_leaf,
        random_state=seed,
    )
    return model.fit(pd.DataFrame(x, columns=feature_names(p)), y)


def predict_units(
    model: HistGradientBoostingRegressor, units: np.ndarray, t: int, h: int, p: ForecastParams
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast units h weeks after origin t for every product, and the products' levels."""
    x, level = features_at(units, t, h, p)
    return np.maximum(0, model.predict(pd.DataFrame(x, columns=feature_names(p))) * level), level


def origins(panel: Panel, p: ForecastParams) -> list[int]:
    """The last `backtest_origins` week indices that leave at least one week to forecast."""
    last_origin = panel.units.shape[1] - 2
    first = max(p.lags - 1 + p.horizon_weeks, last_origin - p.backtest_origins + 1)
    if first > last_origin:
        raise ValueError(
            f"{panel.units.shape[1]} weeks of history are too few for lags={p.lags} and "
            f"horizon_weeks={p.horizon_weeks}; lower them in params.yaml"
        )
    return list(range(first, last_origin + 1))


def backtest(panel: Panel, p: ForecastParams, seed: int) -> pd.DataFrame:
    """One row per (product, origin, horizon) with the actual and every method's forecast."""
    rows = []
    n_weeks = panel.units.shape[1]
    for t in origins(panel, p):
        model = fit_model(panel.units, t, p, seed)
        history = panel.units[:, : t + 1]
        for h in range(1, p.horizon_weeks + 1):
            if t + h >= n_weeks:
                break
            point, level = predict_units(model, panel.units, t, h, p)
            frame = pd.DataFrame(
                {
                    "stock_code": panel.products,
                    "origin": panel.weeks[t],
                    "horizon": h,
                    "week_start": panel.weeks[t + h],
                    "actual": panel.units[:, t + h],
                    "model": point,
                    "level": level,
                }
            )
            for name in BASELINES:
                frame[name] = baseline(name, history, h, p)
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def naive_scale(panel: Panel, until: int) -> pd.Series:
    """Per product: mean absolute one-week change in the history before the first origin (MASE scale)."""
    diffs = np.abs(np.diff(panel.units[:, : until + 1], axis=1)).mean(axis=1)
    return pd.Series(diffs, index=panel.products)


def scores(bt: pd.DataFrame, scale: pd.Series) -> dict[str, dict[str, float]]:
    """WAPE, MASE and bias of the model and of every baseline over the whole backtest."""
    out = {}
    s = bt["stock_code"].map(scale)
    usable = s > 0
    for method in ("model", *BASELINES):
        error = bt[method] - bt["actual"]
        out[method] = {
            "wape": float(error.abs().sum() / bt["actual"].abs().sum()),
            "mase": float((error.abs()[usable] / s[usable]).mean()),
            "bias": float(error.sum() / bt["actual"].sum()),
        }
    return out


def interval_offsets(bt: pd.DataFrame, p: ForecastParams) -> pd.DataFrame:
    """Per horizon: quantiles of the backtest error relative to the product's level."""
    relative = (bt["actual"] - bt["model"]) / bt["level"]
    low, high = p.interval
    grouped = relative.groupby(bt["horizon"])
    return pd.DataFrame({"low": grouped.quantile(low), "high": grouped.quantile(high)})


def interval_coverage(bt: pd.DataFrame, offsets: pd.DataFrame) -> float:
    """Share of backtest actuals inside their interval (in-sample: offsets come from the same errors)."""
    low = np.maximum(0, bt["model"] + bt["horizon"].map(offsets["low"]) * bt["level"])
    high = bt["model"] + bt["horizon"].map(offsets["high"]) * bt["level"]
    return float(((bt["actual"] >= low) & (bt["actual"] <= high)).mean())


def future(
    model: HistGradientBoostingRegressor, panel: Panel, p: ForecastParams, offsets: pd.DataFrame
) -> pd.DataFrame:
    """Forecasts for the `horizon_weeks` after the panel's last week, with prediction intervals."""
    t = panel.units.shape[1] - 1
    frames = []
    for h in range(1, p.horizon_weeks + 1):
        point, level = predict_units(model, panel.units, t, h, p)
        frames.append(
            pd.DataFrame(
                {
                    "stock_code": panel.products,
                    "week_start": panel.weeks[t] + pd.Timedelta(weeks=h),
                    "horizon": h,
                    "forecast_units": point,
                    "lower_units": np.maximum(0, point + offsets.loc[h, "low"] * level),
                    "upper_units": np.maximum(0, point + offsets.loc[h, "high"] * level),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def forecast(
    panel: Panel, p: ForecastParams, seed: int, offsets: pd.DataFrame
) -> tuple[pd.DataFrame, HistGradientBoostingRegressor]:
    """Fit on all history and forecast the next `horizon_weeks` with prediction intervals."""
    model = fit_model(panel.units, panel.units.shape[1] - 1, p, seed)
    return future(model, panel, p, offsets), model
