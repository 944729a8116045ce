"""The probability of backtest overfitting (CSCV, Bailey et al.) over trials x in-sample samples,
with its context: the in-sample/out-of-sample rank correlation and what the selection cost."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from hedgeopt.stats.statistics import Statistic


@dataclass(frozen=True)
class Overfitting:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Beside PBO, per split (``logits``, ``rank_correlations``, ``costs``, ``spreads``: one value
    per split): the Spearman rank correlation of the trials' scores on the in-sample half with
    their scores on the out-of-sample half; the selection's cost, how far the chosen trial (the
    in-sample half's best) falls short, on the out-of-sample half, of the best there of the top
    in-sample decile (at least 2 trials); and the spread, the out-of-sample half's best trial
    less its median trial (all in the metric's direction: positive = better).
    """

    pbo: float
    n_trials: int
    n_samples: int
    n_partitions: int
    n_splits: int
    logits: np.ndarray
    rank_correlations: np.ndarray
    costs: np.ndarray
    spreads: np.ndarray
    top: int

    def as_dict(self) -> dict[str, Any]:
        spread = float(np.mean(self.spreads))
        cost = float(np.mean(self.costs))
        return {
            "pbo": self.pbo,
            "n_trials": self.n_trials,
            "n_samples": self.n_samples,
            "n_partitions": self.n_partitions,
            "n_splits": self.n_splits,
            "median_logit": float(np.median(self.logits)),
            "rank_correlation": float(np.median(self.rank_correlations)),
            "rank_correlation_positive_share": float(np.mean(self.rank_correlations > 0)),
            "selection_cost": cost,
            "selection_cost_share": cost / spread if spread > 0 else 0.0,
            "top_trials": self.top,
        }


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..N-1 along the last axis (ties broken by order; scores are continuous)."""
    return np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1, kind="stable").astype(float)


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean(axis=-1, keepdims=True)
    rb -= rb.mean(axis=-1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=-1) * (rb**2).sum(axis=-1))
    return np.where(den > 0, (ra * rb).sum(axis=-1) / np.where(den > 0, den, 1.0), 0.0)


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
    (C(16, 8) = 12870 splits; 2000 of them estimate PBO to about +-0.01). The same splits
    give PBO's context (:class:`Overfitting`): rank correlations, the selection's cost and the
    spread of the trials out of sample.
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
    top = min(n_trials, max(2, int(math.ceil(0.1 * n_trials))))
    logits, rhos, costs, spreads = (np.empty(2 * len(halves)) for _ in range(4))
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
            at = slice(2 * c0 + j * len(part), 2 * c0 + (j + 1) * len(part))
            rows_c = np.arange(len(part))
            best = np.argmax(p_is, axis=1)
            chosen = p_oos[rows_c, best][:, None]
            below = (p_oos < chosen).sum(axis=1)
            ties = (p_oos == chosen).sum(axis=1)
            w = (below + (ties + 1) / 2.0) / (n_trials + 1.0)  # rank 1 = worst
            logits[at] = np.log(w / (1.0 - w))
            rhos[at] = _spearman(p_is, p_oos)
            leaders = np.argsort(-p_is, axis=1, kind="stable")[:, :top]
            costs[at] = p_oos[rows_c[:, None], leaders].max(axis=1) - chosen[:, 0]
            spreads[at] = p_oos.max(axis=1) - np.median(p_oos, axis=1)
    return Overfitting(
        float(np.mean(logits <= 0.0)), n_trials, rows, s, len(logits), logits, rhos, costs, spreads, top
    )


# ---------------------------------------------------------------------------- assessment
