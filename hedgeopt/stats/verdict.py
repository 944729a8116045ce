"""The verdict against every baseline: a multiplicity-aware comparison (max-t bootstrap over the
baselines), its outcome in words, and the per-metric assessment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hedgeopt.seeds import baseline_seed
from hedgeopt.stats.bootstrap import (
    LEVEL,
    N_BOOT,
    Interval,
    _percentiles,
    bootstrap_indices,
    bootstrap_interval,
)
from hedgeopt.stats.statistics import Statistic, as_matrix

#: The outcome of one comparison, tuned config against a baseline.
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
        if plain and plain[0] == ref:
            text += f" Prefer the baseline '{ref}': it has no tuned parameters."
        elif plain:  # the named baseline has tuned parameters of its own: say why another
            text += (
                f" Prefer the baseline '{plain[0]}', which it also ties: '{plain[0]}' has no tuned "
                f"parameters, '{ref}' has."
            )
        if plain:
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
