"""Figures of the delta_hedge study (matplotlib, Agg backend), written for the best config.

* ``pnl_distribution.png``: out-of-sample net P&L of the best config beside the baselines;
* ``hedge_trace.png``: one out-of-sample path: spot, book delta, hedge position, net delta
  (and the delta band);
* ``pnl_vs_costs.png``: net P&L against costs over all completed trials, coloured by the
  first optimised metric (as the seed plots);
* ``risk_cost_pareto.png``: with two optimised metrics, every completed trial in that plane with
  the non-dominated front highlighted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

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


def make_plots(obj: "DeltaHedgeObjective", best_params: Mapping[str, Any],
               trials: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    best = obj.policy_for(best_params)

    # 1. P&L distribution, best vs baselines, out of sample
    series = {"best": obj.oos_pnl(best)}
    for name, pol in obj.baseline_policies().items():
        series[name] = obj.oos_pnl(pol)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    ax1.boxplot(list(series.values()), showmeans=True)
    ax1.set_xticks(range(1, len(series) + 1), list(series.keys()), rotation=30)
    ax1.axhline(0.0, color="grey", lw=0.8)
    ax1.set_ylabel("net P&L over horizon (USD)")
    ax1.set_title(f"Out-of-sample net P&L ({obj.n_paths_oos} paths)")
    bins = np.histogram_bin_edges(np.concatenate([series["best"], series["unhedged"],
                                                  series["every_tick"]]), bins=40)
    for name in ("unhedged", "every_tick", "best"):
        ax2.hist(series[name], bins=bins, histtype="step", lw=1.8, label=name)
    ax2.set_xlabel("net P&L (USD)")
    ax2.set_ylabel("paths")
    ax2.set_title("P&L distribution: best vs baselines")
    ax2.legend()
    fig.tight_layout()
    written.append(_save(fig, out_dir / "pnl_distribution.png", plt))

    # 2. one path: hedge position and net delta over time
    inputs = obj.oos_inputs
    _, h, nd = run_hedge(inputs, best, obj._costs(obj.config), paths=slice(0, 1), trace_path=0)
    stride = max(1, (inputs.n_steps + 1) // 6000)  # draw at most ~6000 points a line
    hours = (np.arange(inputs.n_steps + 1) * inputs.tick_seconds / 3600.0)[::stride]
    s = inputs.spot[0, ::stride]
    h, nd, book_delta = h[::stride], nd[::stride], inputs.book_delta[0, ::stride]
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    axes[0].plot(hours, s, lw=0.8)
    axes[0].set_ylabel("perp price")
    axes[0].set_title("Out-of-sample path 0 under the best config")
    axes[1].plot(hours, book_delta, lw=0.8, label="book delta")
    axes[1].plot(hours, h, lw=0.8, label="hedge position h")
    axes[1].plot(hours, nd, lw=0.8, label="net delta")
    axes[1].set_ylabel("underlying units")
    axes[1].legend(loc="upper left")
    frac = nd * s / inputs.notional
    axes[2].plot(hours, frac, lw=0.8, color="C2")
    if np.isfinite(best.delta_threshold):
        for sign in (1, -1):
            axes[2].axhline(sign * best.delta_threshold, color="r", ls="--", lw=0.8)
    axes[2].set_ylabel("net delta x S / notional")
    axes[2].set_xlabel("hours")
    fig.tight_layout()
    written.append(_save(fig, out_dir / "hedge_trace.png", plt))

    # 3. P&L against costs over completed trials
    done = [t for t in trials if t.get("state") == "COMPLETE" and t.get("metrics")]
    metric_names = list(obj.config.get("metrics") or ["score"])
    colour_by = metric_names[0]
    rows = [t["metrics"] for t in done if all(k in t["metrics"] for k in ("costs", "net_pnl", colour_by))]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 6))
        sc = ax.scatter([r["costs"] for r in rows], [r["net_pnl"] for r in rows],
                        c=[r[colour_by] for r in rows], cmap="RdYlGn", s=30, alpha=0.8)
        fig.colorbar(sc, ax=ax, label=colour_by)
        ax.set_xlabel("mean costs per path (USD)")
        ax.set_ylabel("mean net P&L per path (USD)")
        ax.set_title(f"P&L vs costs over {len(rows)} trials (in-sample)")
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
