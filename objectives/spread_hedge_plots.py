"""Figures of the spread_hedge study's best config: its trades and its equity against baselines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulators.pairs_backtest import SpreadSettings, trading_windows, walk_forward
from simulators.pairs_trading import buy_and_hold, positions

if TYPE_CHECKING:
    from objectives.spread_hedge import SpreadHedgeObjective


def plot_best(obj: SpreadHedgeObjective, s: SpreadSettings, out_dir: Path) -> list[Path]:
    """z-score with positions, and cumulative net return against buy-and-hold, per period."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    n, lo = len(obj.values), obj.warmup
    dates = obj.prices.index[lo:n]
    z = np.full(n - lo, np.nan)
    pos = np.zeros(n - lo)
    returns = np.zeros(n - lo)
    for a, b in ((lo, obj.split), (obj.split, n)):
        walk = walk_forward(obj.estimator, s, a, b, diagnostics=False)
        returns[a - lo : b - lo] = walk.returns
        for (t, e), est in zip(trading_windows(a, b, s.trading), walk.estimates):
            if est.beta is None or not est.std > 0:
                continue
            spread = obj.values[t - 1 : e] @ np.concatenate([[1.0], -est.beta])
            zz = (spread - est.mean) / est.std
            z[t - lo : e - lo] = zz[1:]
            pos[t - lo : e - lo] = positions(zz[:-1], s.rule)  # the position held over each day
    held = buy_and_hold(obj.values[lo - 1 : n, 0], s.cost_bps)
    split_date = obj.prices.index[obj.split]
    label = (f"{s.method}{', constant' if s.add_constant else ''}, formation {s.formation}d, "
             f"trading {s.trading}d, entry {s.rule.entry_z:.2f} / exit {s.rule.exit_z:.2f} / "
             f"stop {s.rule.stop_z:.2f}, {s.cost_bps:g} bps")

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    ax1.plot(dates, z, lw=0.7, color="tab:gray", label="z-score (formation mean / std)")
    ax1.fill_between(dates, 0, pos * s.rule.entry_z, step="pre", alpha=0.25, color="tab:blue",
                     label="position (+ long spread, - short)")
    for level in (s.rule.entry_z, s.rule.stop_z):
        ax1.axhline(level, color="k", lw=0.5, ls="--")
        ax1.axhline(-level, color="k", lw=0.5, ls="--")
    ax1.set_ylim(-1.5 * s.rule.stop_z, 1.5 * s.rule.stop_z)
    ax1.set_title(f"Walk-forward z-score rule, {label}", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    for ax, series, name in ((ax2, returns, "tuned rule"), (ax2, held, f"buy and hold {obj.dependent}")):
        cum = np.concatenate([np.cumsum(series[: obj.split - lo]), np.cumsum(series[obj.split - lo :])])
        ax.plot(dates, cum, lw=1.0, label=name)
    ax2.set_ylabel("cumulative net return (restarts at the split)")
    ax2.legend(fontsize=7, loc="upper left")
    for ax in (ax1, ax2):
        ax.axvline(split_date, color="tab:red", lw=1.0)
        ax.axvspan(split_date, obj.prices.index[-1], color="tab:red", alpha=0.06)
    ax2.text(split_date, ax2.get_ylim()[1], " held out", va="top", color="tab:red")
    fig.tight_layout()
    path = out_dir / "spread_hedge_best_trades.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
