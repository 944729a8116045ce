"""Figures of the tail_hedge study on the judged SPY history (matplotlib, Agg backend), drawn from
arrays the objective computes.

* ``equity_curves.png``: value of the tuned overlay (black, on top) beside every baseline (log scale);
* ``drawdowns.png``: their drawdowns from the running peak;
* ``protection_cost.png``: the tuned overlay's cumulative premium, put-leg result and spreads
  (fractions of portfolio value) and the log growth it gave up against unhedged SPY.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    """pyplot on the Agg backend, which the framework selected before building the objective."""
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _finish(ax: Any, ylabel: str, title: str) -> None:
    ax.set_ylabel(ylabel)
    ax.set_xlabel("date")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)


def _per_strategy(days: Any, curves: Mapping[str, np.ndarray], height: float) -> tuple[Any, Any]:
    """A figure with one line per strategy, the tuned overlay drawn thicker."""
    fig, ax = _plt().subplots(figsize=(11, height), layout="constrained")
    for k, c in curves.items():
        tuned = k == "tuned overlay"
        ax.plot(
            days, c, lw=1.8 if tuned else 1.0, zorder=3 if tuned else 2, color="k" if tuned else None, label=k
        )
    return fig, ax


def history_figures(
    days: Any, series: Mapping[str, np.ndarray], protection: Mapping[str, np.ndarray], out_dir: Path
) -> list[Path]:
    """The three figures from daily returns per strategy (``"tuned overlay"`` first) and the tuned
    overlay's daily ``premium``, ``put_pnl``, ``spread_cost`` and ``given_up`` (log growth given up
    against unhedged SPY), all over ``days``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wealth = {k: np.cumprod(1.0 + v) for k, v in series.items()}
    paths: list[Path] = []

    fig, ax = _per_strategy(days, wealth, 5)
    ax.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter, ScalarFormatter

    ax.yaxis.set_major_formatter(ScalarFormatter())  # 2, not 2 x 10^0
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))
    _finish(
        ax, "portfolio value (start = 1, log axis)", "SPY with a tail overlay vs baselines, judged history"
    )
    paths.append(_save(fig, out_dir / "equity_curves.png"))

    drawdowns = {k: w / np.maximum.accumulate(w) - 1.0 for k, w in wealth.items()}
    fig, ax = _per_strategy(days, drawdowns, 4)
    _finish(ax, "drawdown (fraction of the running peak)", "drawdowns from the running peak")
    paths.append(_save(fig, out_dir / "drawdowns.png"))

    fig, ax = _plt().subplots(figsize=(11, 4.5), layout="constrained")
    ax.plot(days, np.cumsum(protection["premium"]), label="premium paid (cumulative)")
    ax.plot(days, np.cumsum(protection["put_pnl"]), label="put leg result incl. spreads (cumulative)")
    ax.plot(days, np.cumsum(protection["spread_cost"]), label="spreads paid (cumulative)")
    ax.plot(days, np.cumsum(protection["given_up"]), ls="--", label="log growth given up vs unhedged SPY")
    ax.axhline(0.0, color="black", lw=0.6)
    _finish(ax, "fraction of portfolio value", "cost of protection over time (tuned overlay)")
    paths.append(_save(fig, out_dir / "protection_cost.png"))
    return paths
