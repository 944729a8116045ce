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

Modules: ``statistics`` (what a metric is), ``bootstrap`` (intervals), ``verdict`` (every
baseline at once), ``overfitting`` (PBO and its context). This face names what others import.
"""

from __future__ import annotations

from hedgeopt.stats.bootstrap import (
    LEVEL,
    N_BOOT,
    Interval,
    Resampling,
    bootstrap_indices,
    bootstrap_interval,
    default_block_length,
    paired_difference,
)
from hedgeopt.stats.overfitting import Overfitting, probability_of_overfitting
from hedgeopt.stats.statistics import (
    CVaR,
    Mean,
    Sharpe,
    Statistic,
    as_matrix,
    cvar,
    describe_statistic,
    statistic_from,
)
from hedgeopt.stats.verdict import (
    LOSES,
    TIES,
    WINS,
    SampleSet,
    assess,
    compare_all,
    outcome,
    verdict,
    verdict_text,
)

__all__ = [
    "CVaR",
    "Interval",
    "LEVEL",
    "LOSES",
    "Mean",
    "N_BOOT",
    "Overfitting",
    "Resampling",
    "SampleSet",
    "Sharpe",
    "Statistic",
    "TIES",
    "WINS",
    "as_matrix",
    "assess",
    "bootstrap_indices",
    "bootstrap_interval",
    "compare_all",
    "cvar",
    "default_block_length",
    "describe_statistic",
    "outcome",
    "paired_difference",
    "probability_of_overfitting",
    "statistic_from",
    "verdict",
    "verdict_text",
]
