"""Figures of the delta_hedge study, drawn from arrays the objective computes (this module knows
nothing of the objective; the framework has selected matplotlib's Agg backend):

* ``pnl_distribution.png``: out-of-sample hedging error (P&L before costs minus the
  frictionless every-tick hedge's) of the best config beside the baselines, and the
  baselines' risk against cost;
* ``hedge_trace.png``: one out-of-sample path: spot, book delta, hedge position and target,
  the hedge's deviation from its target with the band;
* ``pnl_vs_costs.png``: hedging risk against costs over all completed trials, coloured by the
  first optimised metric;
* ``risk_cost_pareto.png``: with two optimised metrics, every completed trial in that plane with
  the non-dominated front highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from objectives.plot_marks import mark_best


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """True for rows of ``values`` (n, k) that no other row dominates under ``directions``."""
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    v = values * sign  # all minimised
    n = v.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def box_view(
    errors: Mapping[str, np.ndarray], q: float = 0.01, spread: float = 3.0
) -> tuple[float, float, list[str]]:
    """``(low, high, beyond)``: the y range spanning the ``q`` .. ``1 - q`` quantiles of every config
    whose range is at most ``spread`` times the median config's (an unhedged book's -157k would
    otherwise squash the hedged boxes to slivers), and the wider configs, whose boxes run beyond it."""
    ranges = {k: np.quantile(np.asarray(e, dtype=float), [q, 1 - q]) for k, e in errors.items()}
    widths = {k: float(hi - lo) for k, (lo, hi) in ranges.items()}
    typical = float(np.median(list(widths.values()))) or 1.0
    inside = [k for k, w in widths.items() if w <= spread * typical]
    lo = min(float(ranges[k][0]) for k in inside)
    hi = max(float(ranges[k][1]) for k in inside)
    pad = 0.08 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    beyond = [k for k in errors if k not in inside]
    return lo, hi, beyond


def plot_hedging_error(
    errors: Mapping[str, np.ndarray], risk_and_cost: Mapping[str, tuple[float, float]], path: Path
) -> Path:
    """Box plots of per-path hedging errors (``"best"`` first, highlighted) on an axis clipped to
    the typical configs' 1-99% range (the title names what runs beyond it), beside (costs,
    hedging risk) points with the best config starred."""
    n_paths = len(next(iter(errors.values())))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), layout="constrained")
    box = ax1.boxplot([np.asarray(e) for e in errors.values()], showmeans=True, patch_artist=True)
    for name, patch in zip(errors, box["boxes"], strict=True):
        patch.set_facecolor("gold" if name == "best" else "white")
    ax1.set_xticks(range(1, len(errors) + 1), list(errors.keys()), rotation=30, ha="right")
    ax1.axhline(0.0, color="grey", lw=0.8)
    lo, hi, beyond = box_view(errors)
    ax1.set_ylim(lo, hi)
    for i, (name, e) in enumerate(errors.items(), start=1):
        if name in beyond:  # its extent, written where the box leaves the axis
            ax1.annotate(
                f"{np.min(e):,.0f}..{np.max(e):,.0f}",
                (i, hi),
                xytext=(0, -12),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="C3",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    ax1.set_xlabel("hedge config (best = tuned)")
    ax1.set_ylabel("hedging error over horizon (USD)")
    clipped = any(np.min(e) < lo or np.max(e) > hi for e in errors.values())
    note = "\naxis clipped to the typical configs' 1-99% range" if clipped else ""
    note += f"; beyond: {', '.join(beyond)}" if beyond else ""
    ax1.set_title(f"Out-of-sample hedging error ({n_paths} paths){note}", fontsize=10)
    for name, (costs, risk) in risk_and_cost.items():
        best = name == "best"
        ax2.scatter(
            costs,
            risk,
            s=160 if best else 30,
            marker="*" if best else "o",
            color="gold" if best else "C0",
            edgecolor="k" if best else None,
            zorder=3 if best else 2,
        )
    _label_points(ax2, risk_and_cost)
    ax2.margins(0.12)  # room for the names of the outermost points
    ax2.set_xscale("symlog", linthresh=100.0)
    ax2.set_yscale("symlog", linthresh=100.0)
    ax2.set_xlabel("mean costs per path (USD, symlog axis)")
    ax2.set_ylabel("std of hedging error (USD, symlog axis)")
    ax2.set_title("Risk against cost, out of sample (star: best)", fontsize=10)
    ax2.grid(alpha=0.3)
    return _save(fig, path)


def _label_points(ax: Any, points: Mapping[str, tuple[float, float]]) -> None:
    """Name each point, stacking the labels of points that sit close together so none overlap."""
    order = sorted(points, key=lambda k: (points[k][0], points[k][1]))
    last: tuple[float, float] | None = None
    stack = 0
    for name in order:
        x, y = points[name]
        near = last is not None and _close(last, (x, y))
        stack = stack + 1 if near else 0
        ax.annotate(
            name,
            (x, y),
            fontsize=8,
            xytext=(5, 4 - 11 * stack),
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"} if stack else None,
        )
        last = (x, y) if not near else last


def _close(a: tuple[float, float], b: tuple[float, float], rel: float = 0.15) -> bool:
    """Whether two points are within ``rel`` of each other on both (symlog-like) axes."""
    return all(abs(u - v) <= rel * max(abs(u), abs(v), 100.0) for u, v in zip(a, b, strict=True))


def plot_hedge_trace(
    hours: np.ndarray,
    spot: np.ndarray,
    book_delta: np.ndarray,
    target: np.ndarray,
    hedge: np.ndarray,
    notional: float,
    band: np.ndarray | None,
    path: Path,
) -> Path:
    """One path: spot; book delta, target and hedge (units); the deviation from target and the
    band's half-width, both x S / notional (``band`` None: no finite band to draw)."""
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True, layout="constrained")
    axes[0].plot(hours, spot, lw=0.8)
    axes[0].set_ylabel("perp price (USD)")
    axes[0].set_title("Out-of-sample path 0 under the best config")
    axes[1].plot(hours, book_delta, lw=0.8, label="book delta")
    axes[1].plot(hours, target, lw=0.8, label="target hedge")
    axes[1].plot(hours, hedge, lw=0.8, label="hedge position h")
    axes[1].set_ylabel("underlying units")
    axes[1].legend(loc="upper left")
    axes[2].plot(hours, (hedge - target) * spot / notional, lw=0.8, color="C2", label="h - target")
    if band is not None:
        axes[2].plot(hours, band, color="r", ls="--", lw=0.8, label="band")
        axes[2].plot(hours, -band, color="r", ls="--", lw=0.8)
    axes[2].set_ylabel("deviation x S / notional (fraction)")
    axes[2].set_xlabel("time (hours)")
    axes[2].legend(loc="upper left")
    return _save(fig, path)


#: Units of the metrics the trial figures put on an axis (the rest are unitless scores).
METRIC_UNITS = {"costs": "USD", "hedging_risk": "USD", "risk_cost": "USD", "cvar_loss": "USD"}


def metric_label(name: str, suffix: str = "") -> str:
    """``name (unit, suffix)`` for an axis or a colour bar."""
    parts = [u for u in (METRIC_UNITS.get(name), suffix) if u]
    return f"{name} ({', '.join(parts)})" if parts else name


def _best_index(values: np.ndarray, direction: str) -> int:
    return int(np.nanargmax(values) if direction == "maximize" else np.nanargmin(values))


def _log_if_spread(ax: Any, x: np.ndarray, y: np.ndarray) -> tuple[str, str]:
    """A log axis for positive values spanning a decade or more; returns the label suffixes."""
    notes = []
    for values, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        wide = bool(np.all(values > 0) and values.max() >= 10 * values.min())
        if wide:
            set_scale("log")
        notes.append("log axis" if wide else "")
    return notes[0], notes[1]


def plot_trials(
    trials: Sequence[Mapping[str, Any]], metric_names: Sequence[str], directions: Sequence[str], out_dir: Path
) -> list[Path]:
    """Hedging risk against costs over completed trials, coloured by the first optimised metric
    (its colour scale clipped to the 5-95% quantiles, so two outliers do not wash it out) with the
    best trial starred; with two optimised metrics, also their plane with the non-dominated front."""
    written: list[Path] = []
    done = [t for t in trials if t.get("state") == "COMPLETE" and t.get("metrics")]
    colour_by = metric_names[0]
    direction = next(iter(directions), "minimize")
    rows = [
        t["metrics"] for t in done if all(k in t["metrics"] for k in ("costs", "hedging_risk", colour_by))
    ]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
        colours = np.array([r[colour_by] for r in rows], dtype=float)
        x = np.array([r["costs"] for r in rows], dtype=float)
        y = np.array([r["hedging_risk"] for r in rows], dtype=float)
        vmin, vmax = (
            np.nanquantile(colours, [0.05, 0.95], method="nearest") if len(rows) >= 10 else (None, None)
        )
        sc = ax.scatter(
            x,
            y,
            c=colours,
            cmap="RdYlGn_r" if direction == "minimize" else "RdYlGn",
            vmin=vmin,
            vmax=vmax,
            s=30,
            alpha=0.8,
        )
        clipped = vmin is not None and bool(np.any((colours < vmin) | (colours > vmax)))
        fig.colorbar(
            sc,
            ax=ax,
            label=metric_label(colour_by, "colour clipped to 5-95%" if clipped else ""),
            extend="both" if clipped else "neither",
        )
        b = _best_index(colours, direction)
        mark_best(ax, x[b], y[b], f"best {colour_by}")
        xs, ys = _log_if_spread(ax, x, y)
        ax.set_xlabel(metric_label("costs", f"mean per path{', ' + xs if xs else ''}"))
        ax.set_ylabel(metric_label("hedging_risk", f"std of hedging error{', ' + ys if ys else ''}"))
        ax.set_title(f"Hedging risk vs costs over {len(rows)} trials (in-sample)")
        ax.grid(alpha=0.3, which="both")
        written.append(_save(fig, out_dir / "pnl_vs_costs.png"))

    if len(metric_names) == 2 and len(directions) == 2:
        pts = np.array(
            [
                [t["metrics"][metric_names[0]], t["metrics"][metric_names[1]]]
                for t in done
                if all(m in t["metrics"] for m in metric_names)
            ]
        )
        if pts.size:
            front = pareto_mask(pts, directions)
            fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
            ax.scatter(pts[~front, 1], pts[~front, 0], s=20, alpha=0.5, label="trials")
            order = np.argsort(pts[front, 1])
            ax.plot(pts[front, 1][order], pts[front, 0][order], "o-", color="r", label="Pareto front")
            xs, ys = _log_if_spread(ax, pts[:, 1], pts[:, 0])
            ax.set_xlabel(metric_label(metric_names[1], ", ".join(v for v in (directions[1], xs) if v)))
            ax.set_ylabel(metric_label(metric_names[0], ", ".join(v for v in (directions[0], ys) if v)))
            ax.set_title(f"Hedging risk vs cost: {int(front.sum())} non-dominated of {len(pts)}")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
            written.append(_save(fig, out_dir / "risk_cost_pareto.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
