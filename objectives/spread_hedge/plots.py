"""Figures of the spread_hedge study's best config: its trades and its equity against baselines,
drawn from arrays the objective computes (the framework has selected matplotlib's Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from simulators.trading.pairs_backtest import SpreadSettings


def plot_best(
    dates: Any,
    z: np.ndarray,
    pos: np.ndarray,
    returns: np.ndarray,
    held: np.ndarray,
    n_search: int,
    dependent: str,
    s: SpreadSettings,
    out_dir: Path,
) -> list[Path]:
    """z-score with positions, and cumulative net return against buy-and-hold, per period.

    Daily arrays over ``dates``; the first ``n_search`` days are the searched period, the rest
    the held-out one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    split_date = dates[n_search]
    label = (
        f"{s.method}{', constant' if s.add_constant else ''}, formation {s.formation}d, "
        f"trading {s.trading}d, entry {s.rule.entry_z:.2f} / exit {s.rule.exit_z:.2f} / "
        f"stop {s.rule.stop_z:.2f}, {s.cost_bps:g} bps"
    )

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, layout="constrained")
    ax1.plot(dates, z, lw=0.7, color="tab:gray", label="z-score (formation mean / std)")
    ax1.fill_between(
        dates,
        0,
        pos * s.rule.entry_z,
        step="pre",
        alpha=0.25,
        color="tab:blue",
        label="position (+ long spread, - short)",
    )
    for level in (s.rule.entry_z, s.rule.stop_z):
        ax1.axhline(level, color="k", lw=0.5, ls="--")
        ax1.axhline(-level, color="k", lw=0.5, ls="--")
    ax1.set_ylim(-1.5 * s.rule.stop_z, 1.5 * s.rule.stop_z)
    ax1.set_ylabel(f"z-score (std devs; axis clipped at +-{1.5 * s.rule.stop_z:.2g})", fontsize=9)
    ax1.set_title(f"Walk-forward z-score rule, {label}", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    for series, name in ((returns, "tuned rule"), (held, f"buy and hold {dependent}")):
        ax2.plot(dates, restarting_cumsum(series, n_search), lw=1.0, label=name)
    ax2.set_ylabel("cumulative net return\n(fraction of gross notional,\nrestarts at the split)", fontsize=9)
    ax2.set_xlabel("date")
    ax2.legend(fontsize=7, loc="upper left")
    mark_held_out((ax1, ax2), split_date, dates[-1])
    ax2.text(split_date, ax2.get_ylim()[1], " held out", va="top", color="tab:red")
    path = out_dir / "spread_hedge_best_trades.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def restarting_cumsum(returns: np.ndarray, n_search: int) -> np.ndarray:
    """Cumulative daily returns, restarting at zero on the first held-out day."""
    return np.concatenate([np.cumsum(returns[:n_search]), np.cumsum(returns[n_search:])])


def mark_held_out(axes: Sequence[Any], split_date: Any, last_date: Any) -> None:
    """A red line at the split and a red tint over the held-out days."""
    for ax in axes:
        ax.axvline(split_date, color="tab:red", lw=1.0)
        ax.axvspan(split_date, last_date, color="tab:red", alpha=0.06)
