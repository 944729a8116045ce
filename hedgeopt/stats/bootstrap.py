"""Bootstrap intervals: (block) resampling of per-sample rows, one interval and the paired
difference of two evaluations on the same samples."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from hedgeopt.stats.statistics import Statistic, as_matrix

#: Bootstrap replicates and the interval's confidence level.
N_BOOT = 2000
LEVEL = 0.95

if TYPE_CHECKING:
    from typing_extensions import Unpack


def default_block_length(n: int) -> int:
    """Block length for serially dependent samples: n^(1/3), the usual rate for the mean."""
    return max(1, int(round(n ** (1.0 / 3.0))))


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator, block: int = 1) -> np.ndarray:
    """``(n_boot, n)`` row indices: iid (``block == 1``) or circular moving blocks."""
    if block <= 1:
        return rng.integers(0, n, size=(n_boot, n))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(n_boot, -1)[:, :n]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided bootstrap interval."""

    value: float
    low: float
    high: float
    level: float = LEVEL

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level}


def _percentiles(reps: np.ndarray, level: float) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [a, 1.0 - a])
    return float(lo), float(hi)


class Resampling(TypedDict, total=False):
    """How to bootstrap: the seed, the block length (1: iid rows), replicates and the level."""

    seed: int
    block: int
    n_boot: int
    level: float


def bootstrap_interval(samples: Any, statistic: Statistic, **resampling: Unpack[Resampling]) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over the rows of ``samples``."""
    return _bootstrap(statistic, as_matrix(samples), None, **resampling)


def paired_difference(a: Any, b: Any, statistic: Statistic, **resampling: Unpack[Resampling]) -> Interval:
    """Interval of ``statistic(a) - statistic(b)`` resampling the same rows of both."""
    xa, xb = as_matrix(a), as_matrix(b)
    if xa.shape[0] != xb.shape[0]:
        raise ValueError(f"paired samples differ in length: {xa.shape[0]} and {xb.shape[0]}")
    return _bootstrap(statistic, xa, xb, **resampling)


def _bootstrap(
    statistic: Statistic,
    x: np.ndarray,
    baseline: np.ndarray | None,
    *,
    seed: int = 0,
    block: int = 1,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> Interval:
    """``statistic`` of ``x`` (less that of the paired ``baseline``) with its percentile interval."""
    rng = np.random.default_rng(seed)
    idx = bootstrap_indices(x.shape[0], n_boot, rng, block)
    reps = np.asarray(statistic(x[idx]), dtype=float)
    value = float(statistic(x))
    if baseline is not None:
        reps = reps - np.asarray(statistic(baseline[idx]), dtype=float)
        value -= float(statistic(baseline))
    lo, hi = _percentiles(reps, level)
    return Interval(value, lo, hi, level)


# ---------------------------------------------------------------------------- verdict
