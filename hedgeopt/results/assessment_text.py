"""What the assessment says in words: the PBO reading, the selection gap, the headline metrics
the parent run logs and the console summary's lines."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hedgeopt.results.pareto import chosen_lines

#: Below it, PBO says the in-sample ranking of the trials carries over.
PBO_LOW = 0.3
#: With PBO high, a rank correlation above this many standard errors of pure noise's
#: (1 / sqrt(trials - 1)) says the ranking carries over overall: the top trials are near-ties.
NOISE_SE = 2.0


def pbo_reading(over: Mapping[str, Any]) -> tuple[str, str]:
    """What PBO and its context say together: ``carries over``, ``near-ties`` or ``does not carry over``."""
    rho, cost = over["rank_correlation"], over["selection_cost"]
    ctx = (
        f"in-sample/out-of-sample rank correlation {rho:+.2f} (median over the splits, positive in "
        f"{over['rank_correlation_positive_share']:.0%} of them); the choice cost {cost:.3g} out of "
        f"sample against the best of the top {over['top_trials']} in-sample trials"
    )
    if over["pbo"] < PBO_LOW:
        return "carries over", f"the in-sample ranking of the trials carries over to unseen samples ({ctx})"
    if rho > NOISE_SE / math.sqrt(max(1, over["n_trials"] - 1)):
        return "near-ties", (
            "near-ties, the choice costs nothing much: the ranking of the trials carries over "
            "overall, but the best ones are too close to tell apart, which is what makes PBO "
            f"high ({ctx})"
        )
    return "does not carry over", (
        f"the ranking does not carry over: the best trial in sample is no better than the "
        f"others on unseen samples, picking it is picking noise ({ctx})"
    )


def gap_text(metric: str, direction: str, g: Mapping[str, Any]) -> str:
    better = "higher" if direction == "maximize" else "lower"
    how = "worse" if g["shortfall"] > 0 else "better" if g["shortfall"] < 0 else "no different"
    text = (
        f"best trial's {metric}: in-sample {g['in_sample']:.4g}, out of sample {g['out_of_sample']:.4g} "
        f"(gap {g['gap']:+.4g}: {how} out of sample, {better} is better)"
    )
    if "selection" in g:
        b = g["baseline_median"]
        b_how = f"{abs(b):.4g} " + ("worse" if b > 0 else "better") if b != 0 else "none"
        sel = g["selection"]
        text += (
            f"; the baselines' own change: {b_how} (median of "
            f"{len(g['baselines'])}); so the selection "
            + (
                f"cost {sel:.4g} beyond the change of data"
                if sel > 0
                else f"lost nothing beyond it ({sel:+.4g})"
            )
        )
    return text


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
    """The console block: intervals of the best and each baseline, the verdict, edge, PBO."""
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
            d = b.get("simultaneous") or b.get("difference")
            p = f" (p {b['p_adjusted']:.3f})" if "p_adjusted" in b else ""
            rows.append(
                (
                    base,
                    _fmt_interval(b["interval"]),
                    f"{_fmt_interval(d)} {b.get('outcome', '')}{p}" if d else "",
                )
            )
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        joint = " (jointly over the baselines)" if len(a["baselines"]) > 1 and a.get("samples") else ""
        lines.append(f"  {'':<{w0}}  {name:<{w1}}  tuned minus baseline{joint}")
        lines += [f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in rows]
        if len(assessment["metrics"]) == 1:
            lines.append("Verdict: " + a["verdict"]["text"])
    if len(assessment["metrics"]) > 1:
        if assessment.get("chosen_point"):
            lines += chosen_lines(assessment["chosen_point"])
        lines.append("Verdict: " + assessment["verdict"]["text"])
    for key in ("edge", "score_note"):
        if assessment["verdict"].get(key):
            entry = assessment["verdict"][key]
            lines.append("  " + (entry["text"] if isinstance(entry, Mapping) else str(entry)))
    over = assessment["overfitting"]
    if over.get("pbo") is not None:
        sc = over["in_sample_scores"]
        lines.append(
            f"Overfitting: PBO {over['pbo']:.2f} (CSCV over {over['n_trials']} trials x "
            f"{over['n_samples']} in-sample samples, {over['n_partitions']} partitions), "
            f"rank correlation {over['rank_correlation']:+.2f}, selection cost "
            f"{over['selection_cost']:.3g} ({over['selection_cost_share']:.0%} of the spread)"
        )
        lines.append(
            f"  trials' in-sample {over['metric']}: best {sc['best']:.4g}, median {sc['median']:.4g}, "
            f"worst {sc['worst']:.4g} (interquartile range {sc['iqr']:.3g}; top {over['top_trials']} "
            f"within {sc['top_range']:.3g})"
        )
        lines.append(f"  reading: {over['text']}")
    else:
        lines.append(f"Overfitting: PBO not computed ({over.get('reason')})")
    for g in over.get("selection_gap", {}).values():
        lines.append("  " + g["text"])
    return lines


def _fmt_interval(d: Mapping[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "-"
    if d.get("low") is None or not math.isfinite(float(d["low"])):
        return f"{d['value']:.4g}"
    return f"{d['value']:.4g} [{d['low']:.4g}, {d['high']:.4g}]"
