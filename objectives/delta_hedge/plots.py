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


def plot_hedging_error(
    errors: Mapping[str, np.ndarray], risk_and_cost: Mapping[str, tuple[float, float]], path: Path
) -> Path:
    """Box plots of per-path hedging errors (``"best"`` first) beside (costs, hedging risk) points."""
    n_paths = len(next(iter(errors.values())))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    ax1.boxplot([np.asarray(e) for e in errors.values()], showmeans=True)
    ax1.set_xticks(range(1, len(errors) + 1), list(errors.keys()), rotation=30)
    ax1.axhline(0.0, color="grey", lw=0.8)
    ax1.set_ylabel("hedging error over horizon (USD)")
    ax1.set_title(f"Out-of-sample hedging error ({n_paths} paths)")
    for name, (costs, risk) in risk_and_cost.items():
        ax2.scatter(costs, risk, s=60 if name == "best" else 30, color="r" if name == "best" else "C0")
        ax2.annotate(name, (costs, risk), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax2.set_xscale("symlog", linthresh=100.0)
    ax2.set_yscale("symlog", linthresh=100.0)
    ax2.set_xlabel("mean costs per path (USD)")
    ax2.set_ylabel("std of hedging error (USD)")
    ax2.set_title("Risk against cost, out of sample")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


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
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    axes[0].plot(hours, spot, lw=0.8)
    axes[0].set_ylabel("perp price")
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
    axes[2].set_ylabel("x S / notional")
    axes[2].set_xlabel("hours")
    axes[2].legend(loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def plot_trials(
    trials: Sequence[Mapping[str, Any]], metric_names: Sequence[str], directions: Sequence[str], out_dir: Path
) -> list[Path]:
    """Hedging risk against costs over completed trials, coloured by the first optimised metric;
    with two optimised metrics, also their plane with the non-dominated front."""
    written: list[Path] = []
    done = [t for t in trials if t.get("state") == "COMPLETE" and t.get("metrics")]
    colour_by = metric_names[0]
    rows = [
        t["metrics"] for t in done if all(k in t["metrics"] for k in ("costs", "hedging_risk", colour_by))
    ]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 6))
        colours = np.array([r[colour_by] for r in rows])
        minimised = next(iter(directions), "minimize") == "minimize"
        sc = ax.scatter(
            [r["costs"] for r in rows],
            [r["hedging_risk"] for r in rows],
            c=colours,
            cmap="RdYlGn_r" if minimised else "RdYlGn",
            s=30,
            alpha=0.8,
        )
        fig.colorbar(sc, ax=ax, label=colour_by)
        ax.set_xlabel("mean costs per path (USD)")
        ax.set_ylabel("std of hedging error (USD)")
        ax.set_title(f"Hedging risk vs costs over {len(rows)} trials (in-sample)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
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
            fig, ax = plt.subplots(figsize=(8, 6))
            ax.scatter(pts[~front, 1], pts[~front, 0], s=20, alpha=0.5, label="trials")
            order = np.argsort(pts[front, 1])
            ax.plot(pts[front, 1][order], pts[front, 0][order], "o-", color="r", label="Pareto front")
            ax.set_xlabel(f"{metric_names[1]} ({directions[1]})")
            ax.set_ylabel(f"{metric_names[0]} ({directions[0]})")
            ax.set_title(f"Hedging risk vs cost: {int(front.sum())} non-dominated of {len(pts)}")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            written.append(_save(fig, out_dir / "risk_cost_pareto.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
