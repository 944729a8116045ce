"""The legs of a spread and the spread itself.

Conventions: the dependent leg has hedge ratio 1 and the spread is
``S = leg1 - sum_i ratio_i * leg_i``; the first column is the dependent leg unless
``dependent_variable`` names another. :func:`split_legs` is the input check every hedge-ratio
estimator runs; :func:`ratios_dict` is the shape of the ratios they return.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Fewest rows any method accepts (per leg: ``max(MIN_ROWS, 5 * n_legs)``).
MIN_ROWS = 10


def split_legs(price_data: pd.DataFrame, dependent_variable: str | None) -> tuple[pd.Series, pd.DataFrame]:
    """Validate ``price_data`` and return (dependent leg, hedge legs)."""
    if not isinstance(price_data, pd.DataFrame):
        raise ValueError(f"price_data must be a pandas DataFrame, got {type(price_data).__name__}")  # noqa: TRY004 (the project reports bad input as ValueError)
    if price_data.shape[1] < 2:
        raise ValueError(f"price_data needs at least two columns (legs), got {price_data.shape[1]}")
    if price_data.columns.duplicated().any():
        raise ValueError(f"price_data has duplicated columns {list(price_data.columns)}")
    dep = price_data.columns[0] if dependent_variable is None else dependent_variable
    if dep not in price_data.columns:
        raise ValueError(
            f"dependent_variable {dep!r} is not a column of price_data {list(price_data.columns)}"
        )
    min_rows = max(MIN_ROWS, 5 * price_data.shape[1])
    if len(price_data) < min_rows:
        raise ValueError(
            f"price_data has {len(price_data)} rows; at least {min_rows} are needed for "
            f"{price_data.shape[1]} legs"
        )
    try:
        values = price_data.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"price_data must be numeric: {exc}") from None
    if not np.isfinite(values).all():
        bad = [c for c, ok in zip(price_data.columns, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise ValueError(f"price_data has NaN or infinite values in column(s) {bad}")
    for col, column in zip(price_data.columns, values.T, strict=True):
        if np.ptp(column) <= 1e-12 * max(1.0, float(np.abs(column).max())):
            raise ValueError(f"column {col!r} is constant: it cannot be a leg of a spread")
    frame = price_data.astype(float)
    y = frame[dep]
    X = frame.drop(columns=[dep])
    return y, X


def ratios_dict(dependent: str, legs: list[str], ratios: np.ndarray) -> dict[str, float]:
    """Ratios keyed by column: 1 for the dependent leg, then the hedge legs' ratios."""
    return {dependent: 1.0, **{leg: float(r) for leg, r in zip(legs, ratios, strict=False)}}


def construct_spread(
    price_data: pd.DataFrame,
    hedge_ratios: pd.Series | Mapping[str, float],
    dependent_variable: str | None = None,
) -> pd.Series:
    """The spread ``ratio_dep * dep - sum(ratio_i * leg_i)``.

    ``dependent_variable=None`` makes the first column of ``price_data`` the dependent leg.
    Every column needs a ratio; ratios for columns not in ``price_data`` are an error. NaN
    ratios (a divergent estimate) give a NaN spread.
    """
    ratios = pd.Series(hedge_ratios, dtype=float)
    if not isinstance(price_data, pd.DataFrame) or price_data.shape[1] < 2:
        raise ValueError("price_data must be a DataFrame with at least two columns")
    missing = [c for c in price_data.columns if c not in ratios.index]
    if missing:
        raise ValueError(f"hedge_ratios has no ratio for column(s) {missing}")
    extra = [c for c in ratios.index if c not in price_data.columns]
    if extra:
        raise ValueError(f"hedge_ratios names column(s) {extra} that price_data lacks")
    dep = price_data.columns[0] if dependent_variable is None else dependent_variable
    if dep not in price_data.columns:
        raise ValueError(f"dependent_variable {dep!r} is not a column of price_data")
    others = [c for c in price_data.columns if c != dep]
    spread = ratios[dep] * price_data[dep] - price_data[others].mul(ratios[others], axis=1).sum(
        axis=1, min_count=len(others)
    )
    if ratios[others].isna().any():
        spread[:] = np.nan
    spread.name = "spread"
    return spread
