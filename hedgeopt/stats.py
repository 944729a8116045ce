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

import dataclasses
import importlib
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
@dataclass(frozen=True)
class SampleSet:
    """One evaluation's per-sample values of one metric, with how to score and resample them."""

    values: np.ndarray
    statistic: Statistic
    block: int = 1


def compare_all(
    best: np.ndarray,
    baselines: Mapping[str, np.ndarray],
    statistic: Statistic,
    direction: str,
    *,
    seed: int = 0,
    block: int = 1,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> dict[str, dict[str, Any]]:
    """The tuned config against every baseline at once, on the same resampled rows.

    For each baseline ``k`` the difference ``d_k = statistic(best) - statistic(baseline_k)`` and,
    from the same ``n_boot`` replicate row sets for all of them (paired: every baseline's rows
    are the tuned config's rows), its percentile interval (``difference``, one comparison alone)
    and its *simultaneous* interval ``d_k +- c se_k`` (``simultaneous``), ``se_k`` the bootstrap
    standard error and ``c`` the ``level`` quantile of ``max_k |d*_k - d_k| / se_k`` over the
    replicates (the max-t bootstrap of Romano and Wolf): all K intervals hold together with
    probability ``level``, so a verdict that calls any of them significant keeps its error rate
    however many baselines there are. ``p_adjusted`` is the single-step adjusted p-value, the
    share of replicates whose max-t reaches ``|d_k| / se_k``; ``outcome`` is ``wins`` / ``loses``
    when the simultaneous interval lies on one side of 0 (in ``direction``), else ``ties``.
    """
    x = as_matrix(best)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    idx = bootstrap_indices(n, n_boot, rng, block)
    names = list(baselines)
    xs = [as_matrix(baselines[k]) for k in names]
    for k, b in zip(names, xs, strict=True):
        if b.shape[0] != n:
            raise ValueError(f"baseline {k!r}: {b.shape[0]} samples, the tuned config has {n}")
    rep_best = np.asarray(statistic(x[idx]), dtype=float)
    value = float(statistic(x))
    d = np.array([value - float(statistic(b)) for b in xs])
    reps = np.stack([rep_best - np.asarray(statistic(b[idx]), dtype=float) for b in xs], axis=1)
    reps = np.where(np.isfinite(reps), reps, np.nan)
    with np.errstate(invalid="ignore"):
        se = np.nanstd(reps, axis=0, ddof=1)
    varies = np.isfinite(se) & (se > 1e-12 * np.maximum(1.0, np.abs(d)))
    if varies.any():
        t_star = np.abs(reps[:, varies] - d[varies]) / se[varies]
        max_t = np.nanmax(np.where(np.isfinite(t_star), t_star, -np.inf), axis=1)
        crit = float(np.quantile(max_t, level))
    else:
        max_t, crit = np.zeros(n_boot), 0.0
    out: dict[str, dict[str, Any]] = {}
    for j, k in enumerate(names):
        lo, hi = _percentiles(reps[:, j], level)
        if varies[j]:
            half = crit * float(se[j])
            t = abs(float(d[j])) / float(se[j])
            p = float((1 + np.sum(max_t >= t)) / (n_boot + 1))
        else:  # the same difference on every replicate: exact (0 for identical samples)
            half, p = 0.0, (1.0 if d[j] == 0 else 1.0 / (n_boot + 1))
        sim = Interval(float(d[j]), float(d[j]) - half, float(d[j]) + half, level)
        out[k] = {
            "difference": Interval(float(d[j]), lo, hi, level).as_dict(),
            "simultaneous": sim.as_dict(),
            "p_adjusted": p,
            "outcome": outcome(sim, direction),
        }
    return out


def _fmt_ci(diff: Mapping[str, float]) -> str:
    return f"{diff['value']:+.4g} (95% interval [{diff['low']:.4g}, {diff['high']:.4g}])"


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def verdict(
    metric: str,
    direction: str,
    comparisons: Mapping[str, Mapping[str, Any]],
    in_sample: Mapping[str, float] | None = None,
    simple: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """The verdict over all comparisons of :func:`compare_all`, in plain words.

    ``loses`` when any baseline is significantly better (the tuned config "loses to one"),
    ``wins`` when it is significantly better than every baseline ("wins against all"), else
    ``ties``. The baseline the words name (``best_baseline``) is chosen on *in-sample* figures
    (``in_sample``: each baseline's in-sample value of the metric), never on the test data: the
    best in sample of the baselines it loses to, of all of them (wins), or of those it does not
    beat (ties); without in-sample figures none is named "best". ``simple`` names the baselines
    without tuned parameters: when the tuned config ties one, the words say to prefer it.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    better = "higher" if direction == "maximize" else "lower"
    ins = {k: float(v) for k, v in (in_sample or {}).items() if k in comparisons and math.isfinite(float(v))}

    def ranked(names: list[str]) -> list[str]:
        """``names``, the best in sample first (those without in-sample figures last, as given)."""
        return sorted(names, key=lambda k: (k not in ins, -sign * ins.get(k, 0.0)))

    by = {o: [k for k, c in comparisons.items() if c["outcome"] == o] for o in (WINS, TIES, LOSES)}
    k_all = len(comparisons)
    joint = (
        f"95% jointly over the {k_all} baseline comparisons (max-t bootstrap)"
        if k_all > 1
        else "95% paired bootstrap"
    )
    out: dict[str, Any] = {
        "beats": by[WINS],
        "ties_with": by[TIES],
        "loses_to": by[LOSES],
        "reference_rule": "best baseline in sample" if ins else "no in-sample figures: none is named best",
    }
    if by[LOSES]:
        ref = ranked(by[LOSES])[0]
        text = (
            f"The tuned config loses to '{ref}' out of sample: {metric} difference "
            f"{_fmt_ci(comparisons[ref]['simultaneous'])}, {better} is better ({joint}); prefer the "
            + ("baseline: it has no tuned parameters." if ref in simple else "baseline.")
        )
        if len(by[LOSES]) > 1:
            text += f" It also loses to {_names(ranked(by[LOSES])[1:])}."
        res = LOSES
    elif not by[TIES]:
        ref = ranked(by[WINS])[0]
        text = (
            f"The tuned config wins against all {k_all} baseline{'s' if k_all > 1 else ''} out of "
            f"sample ({metric}, {better} is better; {joint}); against '{ref}'"
            + (", the best baseline in sample" if ref in ins else "")
            + f": difference {_fmt_ci(comparisons[ref]['simultaneous'])}."
        )
        res = WINS
    else:
        tied = ranked(by[TIES])
        ref = tied[0]
        d = comparisons[ref]["simultaneous"]
        ahead = d["value"] * sign < 0
        which = (
            "the best in sample of the baselines it does not beat"
            if ref in ins
            else "a baseline it does not beat"
        )
        text = (
            f"The tuned config ties '{ref}' ({which}) out of sample: {metric} difference "
            f"{_fmt_ci(d)} covers 0 ({joint}); it is not shown to be better"
            + (", and the baseline's own figure is the better one." if ahead else ".")
        )
        plain = [k for k in tied if k in simple]
        if plain:
            text += f" Prefer the baseline '{plain[0]}': it has no tuned parameters."
            out["prefer"] = plain[0]
        if by[WINS]:
            text += f" It beats {_names(ranked(by[WINS]))}."
        res = TIES
    if res == LOSES:
        out["prefer"] = ref
    return {
        "best_baseline": ref,
        "outcome": res,
        "difference": dict(comparisons[ref]["simultaneous"]),
        "p_adjusted": comparisons[ref]["p_adjusted"],
        "text": text,
        **out,
    }


def assess(
    metric: str,
    direction: str,
    best: SampleSet,
    baselines: Mapping[str, SampleSet],
    *,
    seed: int = 0,
    in_sample: Mapping[str, float] | None = None,
    simple: frozenset[str] | set[str] = frozenset(),
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """Intervals of the best config and each baseline, the comparisons and the verdict.

    Every baseline paired with the best's samples (the same count) is compared with it by
    :func:`compare_all` and the verdict (:func:`verdict`) weighs all of them together; the
    baseline it names is chosen on ``in_sample`` figures. Baselines whose samples are not
    paired (a different count) get an interval only.
    """
    stat, block = best.statistic, best.block
    out: dict[str, Any] = {
        "metric": metric,
        "direction": direction,
        "n_samples": int(as_matrix(best.values).shape[0]),
        "block_length": block,
        "best": bootstrap_interval(best.values, stat, seed=seed, block=block, n_boot=n_boot).as_dict(),
        "baselines": {},
    }
    n = out["n_samples"]
    paired: dict[str, np.ndarray] = {}
    for i, (name, b) in enumerate(baselines.items()):
        out["baselines"][name] = {
            "interval": bootstrap_interval(
                b.values, stat, seed=baseline_seed(seed, i), block=block, n_boot=n_boot
            ).as_dict()
        }
        if as_matrix(b.values).shape[0] == n:
            paired[name] = as_matrix(b.values)
    if paired:
        comparisons = compare_all(best.values, paired, stat, direction, seed=seed, block=block, n_boot=n_boot)
        for name, c in comparisons.items():
            out["baselines"][name].update(c)
        out["multiplicity"] = "max-t bootstrap" if len(paired) > 1 else "one baseline"
        out["verdict"] = verdict(metric, direction, comparisons, in_sample, simple)
    return out
