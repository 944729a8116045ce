"""Figure of the spread_hedge_universe study's best config: its equity against the baselines, drawn
from arrays the objective computes (the framework has selected matplotlib's Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from objectives.spread_hedge.plots import mark_held_out, restarting_cumsum
from simulators.trading.pairs_backtest import SpreadSettings
from simulators.trading.universe_backtest import Selection


def plot_universe(
    dates: Any,
    series: Mapping[str, np.ndarray],
    window_starts: Sequence[Any],
    pairs_traded: Sequence[int],
    n_search: int,
    s: SpreadSettings,
    sel: Selection,
    out_dir: Path,
) -> list[Path]:
    """Cumulative net return of each strategy in ``series`` (daily returns over ``dates``,
    restarting at the split: the first ``n_search`` days are the searched period) and the
    number of pairs the tuned portfolio traded in the window starting at each ``window_starts``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 1], layout="constrained"
    )
    for i, (name, r) in enumerate(series.items()):  # the tuned portfolio (first) on top, in black
        style = {"lw": 1.8, "color": "k", "zorder": 3} if i == 0 else {"lw": 1.0}
        ax1.plot(dates, restarting_cumsum(r, n_search), label=name, **style)
    ax1.set_ylabel("cumulative net return\n(fraction of capital, restarts at the split)")
    ax1.set_title(
        f"{sel.test}, p <= {sel.level:g}, k = {sel.k}; {s.method}, formation {s.formation}d, "
        f"trading {s.trading}d, entry {s.rule.entry_z:.2f} / exit {s.rule.exit_z:.2f} / "
        f"stop {s.rule.stop_z:.2f}, {s.cost_bps:g} bps",
        fontsize=9,
    )
    ax1.legend(fontsize=7, loc="upper left")
    ax2.step(window_starts, pairs_traded, where="post", color="tab:gray")
    ax2.set_ylabel("pairs traded (count)")
    ax2.set_xlabel("window start (date)")
    mark_held_out((ax1, ax2), dates[n_search], dates[-1])
    path = out_dir / "spread_hedge_universe_best.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
