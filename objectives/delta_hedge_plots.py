"""Figures of the delta_hedge study (matplotlib, Agg backend), written for the best config.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from simulators.delta_hedging import run_hedge

if TYPE_CHECKING:  # pragma: no cover
    from objectives.delta_hedge import DeltaHedgeObjective


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def make_plots(obj: DeltaHedgeObjective, best_params: Mapping[str, Any],
               trials: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    best = obj.policy_for(best_params)

    # 1. hedging error, best vs baselines, out of sample; risk against cost
    evals = {"best": obj.oos_result(best)}
    for name, pol in obj.baseline_policies().items():
        evals[name] = obj.oos_result(pol)
    errors = {k: np.asarray(e.samples["hedging_error"]) for k, e in evals.items()}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    ax1.boxplot(list(errors.values()), showmeans=True)
    ax1.set_xticks(range(1, len(errors) + 1), list(errors.keys()), rotation=30)
    ax1.axhline(0.0, color="grey", lw=0.8)
    ax1.set_ylabel("hedging error over horizon (USD)")
    ax1.set_title(f"Out-of-sample hedging error ({obj.n_paths_oos} paths)")
    for name, e in evals.items():
        m = e.metrics
        ax2.scatter(m["costs"], m["hedging_risk"], s=60 if name == "best" else 30,
                    color="r" if name == "best" else "C0")
        ax2.annotate(name, (m["costs"], m["hedging_risk"]), fontsize=8, xytext=(3, 3),
                     textcoords="offset points")
    ax2.set_xscale("symlog", linthresh=100.0)
    ax2.set_yscale("symlog", linthresh=100.0)
    ax2.set_xlabel("mean costs per path (USD)")
    ax2.set_ylabel("std of hedging error (USD)")
    ax2.set_title("Risk against cost, out of sample")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    written.append(_save(fig, out_dir / "pnl_distribution.png", plt))

    # 2. one path: hedge position, its target, and the deviation against the band
    inputs = obj.oos_inputs
    costs = obj._costs(obj.config)
    _, h, _ = run_hedge(inputs, best, costs, paths=slice(0, 1), trace_path=0)
    stride = max(1, (inputs.n_steps + 1) // 6000)  # draw at most ~6000 points a line
    hours = (np.arange(inputs.n_steps + 1) * inputs.tick_seconds / 3600.0)[::stride]
    s = inputs.spot[0, ::stride]
    book_delta, gamma = inputs.book_delta[0, ::stride], inputs.book_gamma[0, ::stride]
    h = h[::stride]
    target = -best.hedge_ratio * book_delta
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    axes[0].plot(hours, s, lw=0.8)
    axes[0].set_ylabel("perp price")
    axes[0].set_title("Out-of-sample path 0 under the best config")
    axes[1].plot(hours, book_delta, lw=0.8, label="book delta")
    axes[1].plot(hours, target, lw=0.8, label="target hedge")
    axes[1].plot(hours, h, lw=0.8, label="hedge position h")
    axes[1].set_ylabel("underlying units")
    axes[1].legend(loc="upper left")
    axes[2].plot(hours, (h - target) * s / inputs.notional, lw=0.8, color="C2", label="h - target")
    half = np.array([best.half_width(si, gi, inputs.notional, costs.rate) for si, gi in zip(s, gamma)])
    if np.all(np.isfinite(half)):
        frac = half * s / inputs.notional
        axes[2].plot(hours, frac, color="r", ls="--", lw=0.8, label="band")
        axes[2].plot(hours, -frac, color="r", ls="--", lw=0.8)
    axes[2].set_ylabel("x S / notional")
    axes[2].set_xlabel("hours")
    axes[2].legend(loc="upper left")
    fig.tight_layout()
    written.append(_save(fig, out_dir / "hedge_trace.png", plt))

    # 3. hedging risk against costs over completed trials
    done = [t for t in trials if t.get("state") == "COMPLETE" and t.get("metrics")]
    metric_names = list(obj.config.get("metrics") or ["risk_cost"])
    colour_by = metric_names[0]
    rows = [t["metrics"] for t in done if all(k in t["metrics"] for k in ("costs", "hedging_risk", colour_by))]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 6))
        colours = np.array([r[colour_by] for r in rows])
        minimised = (next(iter(obj.config.get("directions") or ["minimize"])) == "minimize")
        sc = ax.scatter([r["costs"] for r in rows], [r["hedging_risk"] for r in rows],
                        c=colours, cmap="RdYlGn_r" if minimised else "RdYlGn", s=30, alpha=0.8)
        fig.colorbar(sc, ax=ax, label=colour_by)
        ax.set_xlabel("mean costs per path (USD)")
        ax.set_ylabel("std of hedging error (USD)")
        ax.set_title(f"Hedging risk vs costs over {len(rows)} trials (in-sample)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "pnl_vs_costs.png", plt))

    # 4. Pareto front when two metrics are optimised
    directions = list(obj.config.get("directions") or [])
    if len(metric_names) == 2 and len(directions) == 2:
        pts = np.array([[t["metrics"][metric_names[0]], t["metrics"][metric_names[1]]]
                        for t in done if all(m in t["metrics"] for m in metric_names)])
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
            written.append(_save(fig, out_dir / "risk_cost_pareto.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
