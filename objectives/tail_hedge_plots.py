"""Figures of the tail_hedge study on the judged SPY history, drawn from arrays the objective
computes (the framework has selected matplotlib's Agg backend).

* ``equity_curves.png``: value of the tuned overlay beside every baseline (log scale);
* ``drawdowns.png``: their drawdowns from the running peak;
* ``protection_cost.png``: the tuned overlay's cumulative premium, put-leg result and spreads
  (fractions of portfolio value) and the log growth it gave up against unhedged SPY.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np


def _finish(fig: Any, ax: Any, ylabel: str, title: str, path: Path) -> Path:
    """Label, legend and grid the axes, then save and close the figure."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def history_figures(
    days: Any, series: Mapping[str, np.ndarray], protection: Mapping[str, np.ndarray], out_dir: Path
) -> list[Path]:
    """The three figures from daily returns per strategy (``"tuned overlay"`` first) and the tuned
    overlay's daily ``premium``, ``put_pnl``, ``spread_cost`` and ``given_up`` (log growth given up
    against unhedged SPY), all over ``days``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wealth = {k: np.cumprod(1.0 + v) for k, v in series.items()}
    paths: list[Path] = []

    fig, ax = plt.subplots(figsize=(11, 5))
    for k, w in wealth.items():
        ax.plot(days, w, lw=1.8 if k == "tuned overlay" else 1.0, label=k)
    ax.set_yscale("log")
    title = "SPY with a tail overlay vs baselines, judged history"
    paths.append(_finish(fig, ax, "portfolio value (start = 1)", title, out_dir / "equity_curves.png"))

    fig, ax = plt.subplots(figsize=(11, 4))
    for k, w in wealth.items():
        ax.plot(days, w / np.maximum.accumulate(w) - 1.0, lw=1.8 if k == "tuned overlay" else 1.0, label=k)
    paths.append(_finish(fig, ax, "drawdown", "drawdowns from the running peak", out_dir / "drawdowns.png"))

    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(days, np.cumsum(protection["premium"]), label="premium paid (cumulative)")
    ax.plot(days, np.cumsum(protection["put_pnl"]), label="put leg result incl. spreads (cumulative)")
    ax.plot(days, np.cumsum(protection["spread_cost"]), label="spreads paid (cumulative)")
    ax.plot(days, np.cumsum(protection["given_up"]), ls="--", label="log growth given up vs unhedged SPY")
    ax.axhline(0.0, color="black", lw=0.6)
    title = "cost of protection over time (tuned overlay)"
    paths.append(_finish(fig, ax, "fraction of portfolio value", title, out_dir / "protection_cost.png"))
    return paths
