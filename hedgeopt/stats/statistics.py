"""Statistics that turn per-sample values into a metric (mean, Sharpe, CVaR), vectorised
over leading axes, and their plain description for storage beside a trial's samples."""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Statistic(Protocol):
    """Turns per-sample values ``(..., n, k)`` into the metric ``(...)``."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Mean:
    """The mean of one column (a metric that is an average over samples)."""

    column: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)[..., self.column].mean(axis=-1)


@dataclass(frozen=True)
class Sharpe:
    """Annualised Sharpe ratio of one column of periodic returns: mean / std x sqrt(periods).

    ``periods_per_year`` comes from the objective (its data's convention: trading days, ticks a
    year); the framework assumes none.
    """

    periods_per_year: float
    column: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        r = np.asarray(x)[..., self.column]
        sd = r.std(axis=-1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = r.mean(axis=-1) / sd * math.sqrt(self.periods_per_year)
        return np.where(sd > 0, out, 0.0)


@dataclass(frozen=True)
class CVaR:
    """Conditional value at risk of losses: the mean of the worst ``1 - level`` share.

    One sign convention for the whole product: the column holds *losses* (positive = money
    lost), and CVaR is a positive number when the tail loses money. For P&L, pass ``-pnl``.
    The tail holds ``ceil((1 - level) n)`` samples.
    """

    level: float = 0.95
    column: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        loss = np.asarray(x)[..., self.column]
        n = loss.shape[-1]
        m = max(1, int(math.ceil((1.0 - self.level) * n - 1e-9)))
        tail = np.partition(loss, n - m, axis=-1)[..., n - m :]
        return tail.mean(axis=-1)


def cvar(losses: np.ndarray, level: float = 0.95) -> float:
    """CVaR of a 1-D array of losses (see :class:`CVaR`)."""
    return float(CVaR(level)(np.asarray(losses, dtype=float)[:, None]))


def describe_statistic(statistic: Any) -> dict[str, Any] | None:
    """A JSON description of a statistic that :func:`statistic_from` rebuilds, or None.

    Describable: an instance of a module-level dataclass whose fields are plain numbers,
    strings, booleans or None (``Mean``, ``CVaR``, an objective's own frozen dataclass). This is
    how a trial's in-sample statistic travels with its stored samples.
    """
    cls = type(statistic)
    if not dataclasses.is_dataclass(statistic) or "<" in cls.__qualname__:
        return None
    fields = {f.name: getattr(statistic, f.name) for f in dataclasses.fields(statistic)}
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in fields.values()):
        return None
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}


def statistic_from(description: Any) -> Statistic | None:
    """The statistic a :func:`describe_statistic` description names (None: cannot rebuild it)."""
    try:
        module, qualname = str(description["class"]).split(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
            return None
        return obj(**dict(description["fields"]))
    except Exception:  # noqa: BLE001  (an old or foreign description: no statistic)
        return None


def as_matrix(samples: Any) -> np.ndarray:
    """Per-sample values as a float ``(n, k)`` array (a 1-D array becomes one column)."""
    x = np.asarray(samples, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"per-sample values must be (n,) or (n, k) with n >= 2, got shape {x.shape}")
    return x


# ---------------------------------------------------------------------------- resampling
