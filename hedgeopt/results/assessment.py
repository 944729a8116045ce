"""The end-of-study assessment: how sure the export is, in the terms of hedgeopt.stats.

Inputs are what the objective returned for the best config out of sample and for each
baseline (an :class:`~hedgeopt.protocol.Evaluation` or plain metrics), and the in-sample
per-sample values the workers stored for every completed trial. Output is a plain dict that
goes into the export's ``performance`` block, ``study_summary.json`` and the console summary:
intervals, paired differences, the verdict against the best baseline, PBO and the gap between
the best trial's in-sample and out-of-sample values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hedgeopt.protocol import Evaluation, Metrics, metrics_of
from hedgeopt.stats import (
    Mean,
    SampleSet,
    Statistic,
    as_matrix,
    assess,
    default_block_length,
    probability_of_overfitting,
)

#: In-sample / out-of-sample metric name pairs: ``val_x`` is judged as ``test_x`` and so on.
SPLIT_PREFIXES = (("select_", "test_"), ("val_", "test_"), ("is_", "oos_"), ("in_sample_", "out_of_sample_"))


def counterpart(out_of_sample: Mapping[str, Any], name: str) -> str | None:
    """The out-of-sample name of an in-sample metric: the same name, or ``val_x`` -> ``test_x``."""
    if name in out_of_sample:
        return name
    for ins, oos in SPLIT_PREFIXES:
        if name.startswith(ins) and oos + name[len(ins) :] in out_of_sample:
            return oos + name[len(ins) :]
    return None


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
) -> dict[str, Any]:
    """Intervals, paired differences and the verdict for one optimised metric."""
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
    out = assess(metric, direction, best, others, seed=seed)
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


def trial_samples(trials: Sequence[Any], attr: str) -> np.ndarray | None:
    """The ``(trials, samples, k)`` matrix of the completed trials' in-sample values.

    Trials whose values have another shape than the most common one (a changed objective
    set-up) are left out.
    """
    rows = [
        np.asarray(t.user_attrs[attr], dtype=float)
        for t in trials
        if t.state.name == "COMPLETE" and attr in t.user_attrs
    ]
    if len(rows) < 2:
        return None
    shapes = [r.shape for r in rows]
    common = max(set(shapes), key=shapes.count)
    kept = [r for r in rows if r.shape == common]
    return np.stack(kept) if len(kept) >= 2 else None


def overfitting(
    metric: str, direction: str, matrix: np.ndarray | None, statistic: Statistic, seed: int
) -> dict[str, Any]:
    """PBO over the completed trials, or why it was not computed."""
    if matrix is None:
        return {"pbo": None, "reason": "needs per-sample in-sample values of at least 2 completed trials"}
    if matrix.ndim == 2:
        matrix = matrix[:, :, None]
    if matrix.shape[1] < 4:
        return {"pbo": None, "reason": f"needs at least 4 in-sample samples, got {matrix.shape[1]}"}
    res = probability_of_overfitting(matrix, statistic, direction, seed=seed)
    return {"metric": metric, **res.as_dict()}


def assess_study(
    metrics: Sequence[str],
    directions: Sequence[str],
    in_sample: Mapping[str, float],
    oos: Metrics | None,
    baselines: Mapping[str, Mapping[str, Metrics]],
    trials: Sequence[Any],
    samples_attr_prefix: str,
    seed: int,
) -> dict[str, Any]:
    """Everything the export says about how sure it is (see the module docstring)."""
    per_metric = {}
    for m, d in zip(metrics, directions, strict=False):  # judged under its held-out name (select_x as test_x)
        per_metric[m] = assess_metric(counterpart(metrics_of(oos), m) or m, d, oos, baselines, seed)
        per_metric[m]["out_of_sample_metric"] = per_metric[m]["metric"]
    first, direction = metrics[0], directions[0]
    best_set = _sample_set(oos, first)
    statistic = best_set.statistic if best_set is not None else Mean()
    matrix = trial_samples(trials, samples_attr_prefix + first)
    over = overfitting(first, direction, matrix, statistic, seed)
    gaps = {}
    for m in metrics:
        o = _point(oos, m)
        if m in in_sample and o is not None:
            gaps[m] = {"in_sample": float(in_sample[m]), "out_of_sample": o, "gap": float(in_sample[m]) - o}
    over["selection_gap"] = gaps
    verdict = per_metric[first]["verdict"] if len(metrics) == 1 else pareto_verdict(per_metric)
    return {"level": 0.95, "metrics": per_metric, "verdict": verdict, "overfitting": over}


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


def headline_metrics(assessment: Mapping[str, Any]) -> dict[str, float]:
    """A few numbers for the MLflow parent run: intervals, verdict code, PBO."""
    code = {"wins": 1.0, "ties": 0.0, "loses": -1.0}
    out: dict[str, float] = {}
    for m, a in assessment["metrics"].items():
        b = a.get("best", {})
        for k in ("value", "low", "high"):
            if b.get(k) is not None:
                out[f"oos.{m}" + ("" if k == "value" else f".{k}")] = float(b[k])
        if a["verdict"].get("outcome") in code:
            out[f"verdict.{m}"] = code[a["verdict"]["outcome"]]
            d = a["verdict"]["difference"]
            out[f"verdict.{m}.difference"] = float(d["value"])
            out[f"verdict.{m}.difference.low"] = float(d["low"])
            out[f"verdict.{m}.difference.high"] = float(d["high"])
    pbo = assessment["overfitting"].get("pbo")
    if pbo is not None:
        out["pbo"] = float(pbo)
    return out


def summary_lines(assessment: Mapping[str, Any]) -> list[str]:
    """The console block: intervals of the best and each baseline, the verdict, PBO."""
    lines: list[str] = []
    for m, a in assessment["metrics"].items():
        how = (
            f"95% bootstrap intervals over {a.get('n_samples')} paired samples"
            + (f", blocks of {a['block_length']}" if a.get("block_length", 1) > 1 else "")
            if a.get("samples")
            else "point figures only"
        )
        name = a.get("out_of_sample_metric", m)
        lines.append(f"How sure, out of sample ({name}, {a['direction']}; {how}):")
        rows = [("tuned config", _fmt_interval(a["best"]), "")]
        for base, b in a["baselines"].items():
            d = b.get("difference")
            rows.append(
                (
                    base,
                    _fmt_interval(b["interval"]),
                    f"{_fmt_interval(d)} {b.get('outcome', '')}" if d else "",
                )
            )
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines.append(f"  {'':<{w0}}  {name:<{w1}}  tuned minus baseline")
        lines += [f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in rows]
        if len(assessment["metrics"]) == 1:
            lines.append("Verdict: " + a["verdict"]["text"])
    if len(assessment["metrics"]) > 1:
        lines.append("Verdict: " + assessment["verdict"]["text"])
    over = assessment["overfitting"]
    if over.get("pbo") is not None:
        lines.append(
            f"Overfitting: PBO {over['pbo']:.2f} (CSCV over {over['n_trials']} trials x "
            f"{over['n_samples']} in-sample samples, {over['n_partitions']} partitions; "
            "near 0: the in-sample ranking carries over, near 0.5 or above: it does not)"
        )
    else:
        lines.append(f"Overfitting: PBO not computed ({over.get('reason')})")
    for m, g in over.get("selection_gap", {}).items():
        lines.append(
            f"  best trial's {m}: in-sample {g['in_sample']:.4g}, out of sample "
            f"{g['out_of_sample']:.4g} (gap {g['gap']:+.4g})"
        )
    return lines


def _fmt_interval(d: Mapping[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "-"
    if d.get("low") is None or not math.isfinite(float(d["low"])):
        return f"{d['value']:.4g}"
    return f"{d['value']:.4g} [{d['low']:.4g}, {d['high']:.4g}]"
