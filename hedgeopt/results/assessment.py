"""The end-of-study assessment: how sure the export is, in the terms of hedgeopt.stats.

Inputs are what the objective returned for the best config out of sample and for each
baseline (an :class:`~hedgeopt.protocol.Evaluation` or plain metrics), and the in-sample
per-sample values the workers stored for every completed trial, as
:func:`hedgeopt.storages.trial_record.in_sample` reads them back. Output is a plain dict that
goes into the export's ``performance`` block, ``study_summary.json`` and the console summary:
intervals, the comparisons with every baseline and the verdict over all of them, the study's
own test of edge over chance, PBO with its context, and the gap between the best trial's
in-sample and out-of-sample values beside the baselines' own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hedgeopt.protocol import EdgeTest, Evaluation, Metrics, metrics_of
from hedgeopt.results.assessment_text import gap_text, pbo_reading
from hedgeopt.results.pareto import chosen_point
from hedgeopt.stats import (
    WINS,
    SampleSet,
    Statistic,
    as_matrix,
    assess,
    default_block_length,
    probability_of_overfitting,
    statistic_from,
)

if TYPE_CHECKING:
    from hedgeopt.storages.trial_record import InSample


def counterpart(
    out_of_sample: Mapping[str, Any], name: str, held_out_name: Callable[[str], str] | None = None
) -> str | None:
    """The out-of-sample name of a search metric: the same name, or the one the objective
    declares (:meth:`~hedgeopt.protocol.Objective.held_out_name`), if ``out_of_sample`` has it."""
    if name in out_of_sample:
        return name
    other = held_out_name(name) if held_out_name is not None else None
    return other if other is not None and other in out_of_sample else None


def _sample_set(result: Metrics | None, metric: str, statistic: Statistic | None = None) -> SampleSet | None:
    if not isinstance(result, Evaluation):
        return None
    key = metric if metric in result.samples else counterpart(result.samples, metric)
    if key is None:
        return None
    values = as_matrix(result.samples[key])
    block = 1
    if result.serial:
        block = int(result.block_length or default_block_length(values.shape[0]))
    return SampleSet(values, statistic or result.statistic(key), block)


def _point(result: Metrics | None, metric: str) -> float | None:
    metrics = metrics_of(result)
    key = counterpart(metrics, metric)
    if key is None:
        return None
    v = float(metrics[key])
    return v if math.isfinite(v) else None


def _point_verdict(
    metric: str, direction: str, best: float | None, baselines: Mapping[str, float]
) -> dict[str, Any]:
    """A verdict from point figures only (no per-sample values): says so, claims nothing."""
    if best is None or not baselines:
        return {
            "best_baseline": None,
            "outcome": "not assessed",
            "text": f"No out-of-sample {metric} to compare with baselines.",
        }
    sign = 1.0 if direction == "maximize" else -1.0
    ref = max(baselines, key=lambda k: sign * baselines[k])
    diff = best - baselines[ref]
    word = "above" if diff > 0 else "below" if diff < 0 else "equal to"
    return {
        "best_baseline": ref,
        "outcome": "not assessed",
        "difference": {"value": diff},
        "text": (
            f"Point figures only: the tuned config's {metric} is {word} the best baseline "
            f"'{ref}' by {diff:+.4g}; the objective gives no per-sample values, so there "
            "is no interval and no verdict."
        ),
    }


def assess_metric(
    metric: str,
    direction: str,
    oos: Metrics | None,
    baselines: Mapping[str, Mapping[str, Metrics]],
    seed: int,
    in_sample_metric: str | None = None,
    simple: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """Intervals, the comparisons with every baseline and the verdict for one optimised metric.

    ``metric`` is the out-of-sample name; the baseline the verdict names is chosen on the
    baselines' in-sample values of ``in_sample_metric`` (default ``metric``), never on the test
    data. ``simple``: the baselines without tuned parameters.
    """
    best = _sample_set(oos, metric)
    if best is None:
        points = {
            n: v
            for n, res in baselines.items()
            if (v := _point(res.get("out_of_sample"), metric)) is not None
        }
        out = {
            "metric": metric,
            "direction": direction,
            "samples": False,
            "best": {"value": _point(oos, metric)},
            "baselines": {n: {"interval": {"value": v}} for n, v in points.items()},
        }
        out["verdict"] = _point_verdict(metric, direction, _point(oos, metric), points)
        return out
    others = {
        n: s
        for n, res in baselines.items()
        if (s := _sample_set(res.get("out_of_sample"), metric, best.statistic)) is not None
    }
    ins_name = in_sample_metric or metric
    in_sample = {
        n: v
        for n, res in baselines.items()
        if (v := _in_sample_point(res.get("in_sample"), ins_name)) is not None
    }
    out = assess(metric, direction, best, others, seed=seed, in_sample=in_sample, simple=simple)
    out["samples"] = True
    for name, res in baselines.items():  # baselines with point figures only still show up
        if name not in out["baselines"] and (v := _point(res.get("out_of_sample"), metric)) is not None:
            out["baselines"][name] = {"interval": {"value": v}}
    if "verdict" not in out:
        out["verdict"] = _point_verdict(
            metric,
            direction,
            out["best"]["value"],
            {n: b["interval"]["value"] for n, b in out["baselines"].items()},
        )
    return out


def _in_sample_point(result: Metrics | None, metric: str) -> float | None:
    v = metrics_of(result).get(metric)
    return float(v) if v is not None and math.isfinite(float(v)) else None


def overfitting(
    metric: str, direction: str, matrix: np.ndarray | None, statistic: Statistic | None, seed: int
) -> dict[str, Any]:
    """PBO over the completed trials with its context, or why it was not computed."""
    if matrix is None:
        return {"pbo": None, "reason": "needs per-sample in-sample values of at least 2 completed trials"}
    if statistic is None:
        return {"pbo": None, "reason": "the trials' in-sample statistic is not recorded"}
    if matrix.ndim == 2:
        matrix = matrix[:, :, None]
    if matrix.shape[1] < 4:
        return {"pbo": None, "reason": f"needs at least 4 in-sample samples, got {matrix.shape[1]}"}
    res = probability_of_overfitting(matrix, statistic, direction, seed=seed)
    scores = np.asarray(statistic(matrix), dtype=float)
    sign = 1.0 if direction == "maximize" else -1.0
    ordered = np.sort(sign * scores)[::-1] * sign  # best first, in the metric's units
    q25, q50, q75 = np.quantile(scores, [0.25, 0.5, 0.75])
    out = {"metric": metric, **res.as_dict(), "statistic": type(statistic).__name__}
    out["in_sample_scores"] = {
        "best": float(ordered[0]),
        "median": float(q50),
        "worst": float(ordered[-1]),
        "iqr": float(q75 - q25),
        "top_range": float(abs(ordered[0] - ordered[res.top - 1])),
    }
    out["reading"], out["text"] = pbo_reading(out)
    return out


def edge_entry(oos: Metrics | None, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The study's own test of edge over chance, for the verdict (None: the study has none)."""
    edge = oos.edge if isinstance(oos, Evaluation) else None
    if not isinstance(edge, EdgeTest):
        return None
    word = "edge over chance" if edge.significant else "no edge over chance"
    out: dict[str, Any] = {
        "p_value": float(edge.p_value),
        "n": int(edge.n),
        "null": edge.null,
        "level": float(edge.level),
        "significant": bool(edge.significant),
        "text": f"{word}: p = {edge.p_value:.3f} ({edge.n} {edge.null})",
    }
    rule = edge.default_rule
    if edge.significant and rule and rule in metrics.get("baselines", {}):
        outcome = metrics["baselines"][rule].get("outcome")
        if outcome is not None and outcome != WINS:
            out["beats_chance_not_default_rule"] = True
            out["text"] += f"; it beats chance but not the default rule '{rule}'"
    return out


def selection_gaps(
    metrics: Sequence[str],
    directions: Sequence[str],
    in_sample: Mapping[str, float],
    oos: Metrics | None,
    baselines: Mapping[str, Mapping[str, Metrics]],
    held_out: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The best trial's in-sample to out-of-sample change beside the baselines' own change.

    ``held_out``: each metric's out-of-sample name where it differs (``select_x`` judged as
    ``test_x``).

    ``shortfall``: how much worse the best trial is out of sample than in sample, in the
    metric's direction (positive = worse, whichever way the metric runs); ``baselines``: the
    same for each baseline with both figures, ``baseline_median`` their median (the change of
    the data itself: another period, other paths); ``selection`` = shortfall - baseline_median,
    the part the data's change does not explain: what picking the best trial cost.
    """
    gaps: dict[str, Any] = {}
    held_out = held_out or {}
    for m, d in zip(metrics, directions, strict=False):
        o = _point(oos, held_out.get(m, m))
        if m not in in_sample or o is None:
            continue
        sign = 1.0 if d == "maximize" else -1.0
        i = float(in_sample[m])
        g: dict[str, Any] = {"in_sample": i, "out_of_sample": o, "gap": i - o, "shortfall": sign * (i - o)}
        base = {}
        for name, res in baselines.items():
            bo = _point(res.get("out_of_sample"), held_out.get(m, m))
            bi = _in_sample_point(res.get("in_sample"), m)
            if bi is not None and bo is not None:
                base[name] = sign * (bi - bo)
        if base:
            g["baselines"] = base
            g["baseline_median"] = float(np.median(list(base.values())))
            g["selection"] = g["shortfall"] - g["baseline_median"]
        g["text"] = gap_text(m, d, g)
        gaps[m] = g
    return gaps


def assess_study(
    metrics: Sequence[str],
    directions: Sequence[str],
    in_sample: Mapping[str, float],
    oos: Metrics | None,
    baselines: Mapping[str, Mapping[str, Metrics]],
    trials: InSample | None,
    seed: int,
    simple: frozenset[str] | set[str] | None = None,
    held_out_name: Callable[[str], str] | None = None,
    front_size: int | None = None,
) -> dict[str, Any]:
    """Everything the export says about how sure it is (see the module docstring).

    With several metrics, ``chosen_point`` sets the exported point (picked from a front of
    ``front_size`` trials by :data:`~hedgeopt.results.pareto.KNEE_RULE`) beside every baseline
    out of sample (:func:`~hedgeopt.results.pareto.chosen_point`), and the verdict says
    which rule picked it and which baseline to prefer when one dominates it.

    ``held_out_name``: the objective's map from a search metric to the out-of-sample metric
    that answers it (:meth:`~hedgeopt.protocol.Objective.held_out_name`).

    ``trials``: the completed trials' in-sample values of the first metric (None: none).
    ``simple``: the baselines without tuned parameters (None: all of them). PBO scores the
    trials with the statistic stored with their in-sample samples, falling back to a
    baseline's in-sample statistic; never the out-of-sample one.
    """
    simple = set(baselines) if simple is None else set(simple)
    per_metric = {}
    held_out = {m: counterpart(metrics_of(oos), m, held_out_name) or m for m in metrics}
    for m, d in zip(metrics, directions, strict=False):  # judged under its held-out name
        per_metric[m] = assess_metric(held_out[m], d, oos, baselines, seed, m, simple)
        per_metric[m]["out_of_sample_metric"] = per_metric[m]["metric"]
    first, direction = metrics[0], directions[0]
    matrix = trials.matrix if trials is not None else None
    statistic = statistic_from(trials.statistic) if trials is not None and trials.statistic else None
    if statistic is None:  # trials stored before the statistic was: a baseline's in-sample one
        statistic = next(
            (
                r.statistic(first)
                for b in baselines.values()
                if isinstance(r := b.get("in_sample"), Evaluation) and first in r.samples
            ),
            None,
        )
    over = overfitting(first, direction, matrix, statistic, seed)
    if trials is not None and trials.missing:
        over["left_out"] = list(trials.missing)  # trials whose samples file is gone: not in PBO
    over["selection_gap"] = selection_gaps(metrics, directions, in_sample, oos, baselines, held_out)
    verdict = dict(per_metric[first]["verdict"] if len(metrics) == 1 else pareto_verdict(per_metric))
    chosen = _chosen(metrics, directions, oos, baselines, held_out, front_size) if len(metrics) > 1 else None
    if chosen is not None:
        verdict["chosen_by"] = chosen["rule"]
        said = chosen["text"]
        if verdict["outcome"] == "loses":  # the paired test's words already say to prefer it
            said = said.removesuffix(": prefer the baseline")
        verdict["text"] += f" {said[0].upper()}{said[1:]}."
        if chosen["dominated_by"] and verdict["outcome"] != "loses":
            verdict["prefer"] = chosen["dominated_by"][0]
    edge = edge_entry(oos, per_metric[first])
    if edge is not None:
        verdict["edge"] = edge
    if isinstance(oos, Evaluation) and oos.caveat:
        verdict["score_note"] = str(oos.caveat)
    out = {"level": 0.95, "metrics": per_metric, "verdict": verdict, "overfitting": over}
    if chosen is not None:
        out["chosen_point"] = chosen
    return out


def _chosen(
    metrics: Sequence[str],
    directions: Sequence[str],
    oos: Metrics | None,
    baselines: Mapping[str, Mapping[str, Metrics]],
    held_out: Mapping[str, str],
    front_size: int | None,
) -> dict[str, Any] | None:
    """:func:`~hedgeopt.results.pareto.chosen_point` on the out-of-sample point figures
    (None: the chosen config lacks one of them)."""
    point = {m: _point(oos, held_out[m]) for m in metrics}
    if any(v is None for v in point.values()):
        return None
    base = {
        b: {m: _point(res.get("out_of_sample"), held_out[m]) for m in metrics} for b, res in baselines.items()
    }
    return chosen_point(metrics, directions, point, base, front_size=front_size)


def pareto_verdict(per_metric: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The verdict of a multi-objective study: does any baseline dominate the tuned config?

    Per metric each extreme baseline wins on its own axis (never hedging has no costs), so
    "the best baseline" of one metric says nothing about a trade-off. A baseline *dominates*
    the tuned config when, on the paired intervals, it is significantly better on at least one
    metric and not significantly worse on any: the tuned config then ``loses``. It ``wins``
    when it dominates every paired baseline, and otherwise ``ties``: it is a trade-off that no
    baseline beats on every metric at once.
    """
    names = [set(b for b, e in a["baselines"].items() if "outcome" in e) for a in per_metric.values()]
    paired = sorted(set.intersection(*names)) if names else []
    metrics = list(per_metric)
    if not paired:
        return {
            "best_baseline": None,
            "outcome": "not assessed",
            "text": "No baseline has paired per-sample values for every metric; no verdict.",
        }
    outcomes = {b: [per_metric[m]["baselines"][b]["outcome"] for m in metrics] for b in paired}
    dominating = [b for b, o in outcomes.items() if "loses" in o and "wins" not in o]
    dominated = [b for b, o in outcomes.items() if "wins" in o and "loses" not in o]
    axes = " and ".join(metrics)
    if dominating:
        ref = dominating[0]
        return {
            "best_baseline": ref,
            "outcome": "loses",
            "dominated_by": dominating,
            "text": (
                f"The baseline '{ref}' dominates the tuned config out of sample (as good or "
                f"better on {axes}, significantly better on one); prefer the baseline."
            ),
        }
    if len(dominated) == len(paired):
        return {
            "best_baseline": None,
            "outcome": "wins",
            "dominates": dominated,
            "text": f"The tuned config dominates every baseline out of sample on {axes}.",
        }
    return {
        "best_baseline": None,
        "outcome": "ties",
        "dominates": dominated,
        "text": (
            f"No baseline dominates the tuned config out of sample: it trades {axes} "
            f"against each other; it dominates {len(dominated)} of {len(paired)} "
            f"baselines ({', '.join(dominated) or 'none'})."
        ),
    }
