"""The chosen point of a multi-objective study: which rule picked it, and where it stands
beside the baselines on the same axes.

A multi-objective search ends with a front of trials no other trial beats on every metric;
the export needs one of them. :func:`knee_index` is the rule that picks it and
:data:`KNEE_RULE` says that rule in words. :func:`chosen_point` then sets the chosen config's
out-of-sample figures beside every baseline's, metric by metric, and says which baseline
*dominates* it (as good or better on every metric in its direction, strictly better on one),
which it dominates, and which lie on the out-of-sample front of the chosen point and the
baselines. These are point figures; the paired intervals' verdict is
:func:`hedgeopt.results.assessment.pareto_verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: How :func:`knee_index` picks the exported point, for the export and the verdict.
KNEE_RULE = (
    "the knee: the front trial nearest (Euclidean distance) to the ideal point (the best "
    "value of each metric over the front) once each metric is scaled to [0, 1] over the front, "
    "on in-sample values; a geometric choice that weighs a unit of each metric's range alike"
)

#: The chosen point's name in the tables.
CHOSEN = "chosen point"


def knee_index(values: Sequence[Sequence[float]], directions: Sequence[str]) -> int:
    """The row of ``values`` (front trials x metrics) that :data:`KNEE_RULE` picks."""
    vals = np.array(values, dtype=float)
    for j, d in enumerate(directions):
        if d == "maximize":
            vals[:, j] = -vals[:, j]
    lo, hi = vals.min(axis=0), vals.max(axis=0)
    scaled = (vals - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(np.linalg.norm(scaled, axis=1)))


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """``a`` is as good as ``b`` on every metric (in its direction) and better on one."""
    sign = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    x, y = sign * np.asarray(a, dtype=float), sign * np.asarray(b, dtype=float)
    return bool(np.all(x >= y) and np.any(x > y))


def _relation(base: Sequence[float], chosen: Sequence[float], directions: Sequence[str]) -> str:
    if dominates(base, chosen, directions):
        return "dominates"
    if dominates(chosen, base, directions):
        return "dominated"
    if np.allclose(base, chosen, rtol=0.0, atol=0.0):
        return "equal"
    return "trade-off"


def chosen_point(
    metrics: Sequence[str],
    directions: Sequence[str],
    chosen: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, float]],
    rule: str = KNEE_RULE,
    front_size: int | None = None,
) -> dict[str, Any]:
    """The chosen point beside every baseline, out of sample, and who dominates whom.

    ``chosen``: the chosen config's out-of-sample value of each metric; ``baselines``: each
    baseline's (a baseline missing a metric is listed under ``incomplete``). ``relation`` of a
    baseline to the chosen point: ``dominates`` (prefer the baseline), ``dominated``,
    ``trade-off`` (better on one metric, worse on another) or ``equal``; ``on_front``: the
    points (the chosen one and baselines) that no other of them dominates.
    """
    names = list(metrics)
    point = [float(chosen[m]) for m in names]
    table = {CHOSEN: dict(zip(names, point, strict=True))}
    incomplete = []
    for b, vals in baselines.items():
        if all(vals.get(m) is not None for m in names):
            table[b] = {m: float(vals[m]) for m in names}
        else:
            incomplete.append(b)
    rows = {n: [v[m] for m in names] for n, v in table.items()}
    relation = {b: _relation(rows[b], point, directions) for b in rows if b != CHOSEN}
    on_front = [n for n in rows if not any(dominates(rows[o], rows[n], directions) for o in rows if o != n)]
    out: dict[str, Any] = {
        "rule": rule,
        "metrics": names,
        "directions": list(directions),
        "out_of_sample": table,
        "relation": relation,
        "dominated_by": [b for b, r in relation.items() if r == "dominates"],
        "dominates": [b for b, r in relation.items() if r == "dominated"],
        "on_front": on_front,
    }
    if front_size is not None:
        out["front_size"] = int(front_size)
    if incomplete:
        out["incomplete"] = incomplete
    out["text"] = chosen_text(out)
    return out


def chosen_text(c: Mapping[str, Any]) -> str:
    """One sentence: who dominates the chosen point out of sample, or where it stands."""
    axes = " and ".join(c["metrics"])
    if c["dominated_by"]:
        who = ", ".join(f"'{b}'" for b in c["dominated_by"])
        return (
            f"on the out-of-sample figures {who} dominate{'s' if len(c['dominated_by']) == 1 else ''} "
            f"the chosen point (as good or better on {axes}, better on one): prefer the baseline"
        )
    front = [b for b in c["on_front"] if b != CHOSEN]
    text = f"on the out-of-sample figures no baseline dominates the chosen point on {axes}"
    if front:
        text += f"; {', '.join(front)} also lie{'s' if len(front) == 1 else ''} on the front (trade-offs)"
    return text


def chosen_lines(c: Mapping[str, Any]) -> list[str]:
    """The console table: the chosen point and every baseline on the same axes, out of sample."""
    names, dirs = c["metrics"], c["directions"]
    n = c.get("front_size")
    size = "" if n is None else " (the only trial on the front)" if n == 1 else f" of the {n} on the front"
    lines = [f"Chosen point{size}, picked by {c['rule']}."]
    heads = [f"{m} ({d})" for m, d in zip(names, dirs, strict=True)]
    rows = [[n, *(f"{v[m]:.4g}" for m in names), _word(c, n)] for n, v in c["out_of_sample"].items()]
    cells = [["out of sample", *heads, "against the chosen point"], *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(heads) + 1)]
    for r in cells:
        lines.append("  " + "  ".join(x.ljust(w) for x, w in zip(r, widths, strict=False)) + "  " + r[-1])
    lines[-len(cells) :] = [line.rstrip() for line in lines[-len(cells) :]]
    if c.get("incomplete"):  # who dominates it: the verdict's line below
        lines.append(f"  left out (an out-of-sample figure missing): {', '.join(c['incomplete'])}")
    return lines


def _word(c: Mapping[str, Any], name: str) -> str:
    if name == CHOSEN:
        return "on the front" if name in c["on_front"] else "dominated"
    word = {
        "dominates": "dominates it: prefer the baseline",
        "dominated": "dominated by it",
        "trade-off": "trade-off",
        "equal": "equal",
    }[c["relation"][name]]
    return word + (", on the front" if name in c["on_front"] and c["relation"][name] != "dominates" else "")
