"""How sure a study is: bootstrap intervals, paired differences, a verdict, and PBO.

Everything here works on *per-sample values*: for one evaluation (the best config out of
sample, one baseline, one trial in-sample) an array ``x`` of shape ``(n, k)``, one row per
sample (a simulated path, a walk-forward window, a day) and ``k`` columns that a
:class:`Statistic` turns into the metric. Statistics are vectorised over leading axes: given
``x`` of shape ``(..., n, k)`` they return shape ``(...)``, so one call scores thousands of
bootstrap replicates or CSCV splits at once.

Samples of two evaluations on the *same* samples (common random numbers, the same windows)
are paired: resampling the same rows of both keeps their correlation, so the interval of the
difference is far narrower than the two intervals suggest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np

from hedgeopt.seeds import baseline_seed

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Bootstrap replicates; 2000 keeps the Monte Carlo error of a 95% percentile bound small.
N_BOOT = 2000
LEVEL = 0.95


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
    """Annualised Sharpe ratio of one column of periodic returns: mean / std x sqrt(periods)."""

    periods_per_year: float = 252.0
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


def as_matrix(samples: Any) -> np.ndarray:
    """Per-sample values as a float ``(n, k)`` array (a 1-D array becomes one column)."""
    x = np.asarray(samples, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"per-sample values must be (n,) or (n, k) with n >= 2, got shape {x.shape}")
    return x


# ---------------------------------------------------------------------------- resampling
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
WINS, TIES, LOSES = "wins", "ties", "loses"


def outcome(diff: Interval, direction: str) -> str:
    """``wins`` / ``ties`` / ``loses`` for a difference "tuned minus baseline" in ``direction``."""
    sign = 1.0 if direction == "maximize" else -1.0
    lo, hi = sorted((sign * diff.low, sign * diff.high))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return TIES
    if lo > 0:
        return WINS
    if hi < 0:
        return LOSES
    return TIES


def verdict_text(result: str, metric: str, baseline: str, diff: Interval, direction: str) -> str:
    """The verdict in plain words, one line."""
    ci = f"{diff.value:+.4g} (95% interval [{diff.low:.4g}, {diff.high:.4g}])"
    better = "higher" if direction == "maximize" else "lower"
    if result == WINS:
        return (
            f"The tuned config beats the best baseline '{baseline}' out of sample: "
            f"{metric} difference {ci}, {better} is better."
        )
    if result == LOSES:
        return (
            f"The baseline '{baseline}' beats the tuned config out of sample: {metric} "
            f"difference {ci}, {better} is better; prefer the baseline."
        )
    ahead = diff.value < 0 if direction == "maximize" else diff.value > 0
    return (
        f"The tuned config ties the best baseline '{baseline}' out of sample: {metric} "
        f"difference {ci} covers 0; it is not shown to be better"
        + (", and the baseline's own figure is the better one." if ahead else ".")
    )


# ---------------------------------------------------------------------------- PBO (CSCV)
@dataclass(frozen=True)
class Overfitting:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation."""

    pbo: float
    n_trials: int
    n_samples: int
    n_partitions: int
    n_splits: int
    logits: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        return {
            "pbo": self.pbo,
            "n_trials": self.n_trials,
            "n_samples": self.n_samples,
            "n_partitions": self.n_partitions,
            "n_splits": self.n_splits,
            "median_logit": float(np.median(self.logits)),
        }


def probability_of_overfitting(
    performance: np.ndarray,
    statistic: Statistic,
    direction: str,
    *,
    n_partitions: int = 16,
    max_splits: int = 2000,
    seed: int = 0,
) -> Overfitting:
    """PBO of Bailey, Borwein, Lopez de Prado and Zhu (2017) by CSCV.

    ``performance`` is ``(N trials, T samples, k)``. The T rows are cut into ``S`` contiguous
    groups (``S`` even, at most ``n_partitions``, at most T); every choice of S/2 groups is an
    in-sample half and the rest its out-of-sample half. For each split the trial best in-sample
    is ranked among all trials out of sample; its relative rank w gives the logit
    log(w / (1 - w)); PBO is the share of splits whose logit is <= 0 (the in-sample winner is
    at or below the out-of-sample median). Splits come in complementary pairs (each half is
    in-sample once and out-of-sample once), so every statistic evaluated serves two splits;
    with more than ``max_splits`` splits a seeded random subset of the pairs is used
    (C(16, 8) = 12870 splits; 2000 of them estimate PBO to about +-0.01).
    """
    m = np.asarray(performance, dtype=float)
    if m.ndim == 2:
        m = m[:, :, None]
    n_trials, n_rows = m.shape[0], m.shape[1]
    if n_trials < 2:
        raise ValueError("PBO needs at least 2 trials")
    s = min(int(n_partitions), n_rows) // 2 * 2
    if s < 2:
        raise ValueError(f"PBO needs at least 2 samples per trial, got {n_rows}")
    rows = n_rows // s * s
    groups = np.arange(rows).reshape(s, rows // s)
    # halves containing group 0, each paired with its complement
    halves = [c for c in combinations(range(s), s // 2) if c[0] == 0]
    if 2 * len(halves) > max_splits:
        rng = np.random.default_rng(seed)
        keep = rng.choice(len(halves), size=max(1, max_splits // 2), replace=False)
        halves = [halves[i] for i in sorted(keep)]
    sign = 1.0 if direction == "maximize" else -1.0
    logits = np.empty(2 * len(halves))
    chunk = max(1, int(1e7 // max(1, n_trials * rows * m.shape[2])))
    for c0 in range(0, len(halves), chunk):
        part = halves[c0 : c0 + chunk]
        mask = np.zeros((len(part), s), bool)
        for i, c in enumerate(part):
            mask[i, list(c)] = True
        a_rows = np.stack([groups[mk].ravel() for mk in mask])  # (C, rows/2)
        b_rows = np.stack([groups[~mk].ravel() for mk in mask])
        perf_a = sign * np.asarray(statistic(m[:, a_rows].transpose(1, 0, 2, 3)), float)  # (C, N)
        perf_b = sign * np.asarray(statistic(m[:, b_rows].transpose(1, 0, 2, 3)), float)
        for j, (p_is, p_oos) in enumerate(((perf_a, perf_b), (perf_b, perf_a))):
            best = np.argmax(p_is, axis=1)
            chosen = p_oos[np.arange(len(part)), best][:, None]
            below = (p_oos < chosen).sum(axis=1)
            ties = (p_oos == chosen).sum(axis=1)
            w = (below + (ties + 1) / 2.0) / (n_trials + 1.0)  # rank 1 = worst
            logits[2 * c0 + j * len(part) : 2 * c0 + (j + 1) * len(part)] = np.log(w / (1.0 - w))
    return Overfitting(float(np.mean(logits <= 0.0)), n_trials, rows, s, len(logits), logits)


# ---------------------------------------------------------------------------- assessment
@dataclass(frozen=True)
class SampleSet:
    """One evaluation's per-sample values of one metric, with how to score and resample them."""

    values: np.ndarray
    statistic: Statistic
    block: int = 1


def assess(
    metric: str, direction: str, best: SampleSet, baselines: Mapping[str, SampleSet], *, seed: int = 0
) -> dict[str, Any]:
    """Intervals of the best config and each baseline, paired differences, and the verdict.

    Baselines whose samples are not paired with the best's (a different count) get an
    interval but no paired difference and cannot be the verdict's reference.
    """
    stat, block = best.statistic, best.block
    out: dict[str, Any] = {
        "metric": metric,
        "direction": direction,
        "n_samples": int(as_matrix(best.values).shape[0]),
        "block_length": block,
        "best": bootstrap_interval(best.values, stat, seed=seed, block=block).as_dict(),
        "baselines": {},
    }
    n = out["n_samples"]
    sign = 1.0 if direction == "maximize" else -1.0
    ref, ref_val = None, -math.inf
    for i, (name, b) in enumerate(baselines.items()):
        entry: dict[str, Any] = {
            "interval": bootstrap_interval(b.values, stat, seed=baseline_seed(seed, i), block=block).as_dict()
        }
        if as_matrix(b.values).shape[0] == n:
            # the same seed for every baseline: each difference is resampled on the same rows
            diff = paired_difference(best.values, b.values, stat, seed=seed, block=block)
            entry["difference"] = diff.as_dict()
            entry["outcome"] = outcome(diff, direction)
            v = sign * entry["interval"]["value"]
            if v > ref_val:
                ref, ref_val = name, v
        out["baselines"][name] = entry
    if ref is not None:
        d = out["baselines"][ref]["difference"]
        diff = Interval(d["value"], d["low"], d["high"])
        res = out["baselines"][ref]["outcome"]
        out["verdict"] = {
            "best_baseline": ref,
            "outcome": res,
            "difference": d,
            "text": verdict_text(res, metric, ref, diff, direction),
        }
    return out
