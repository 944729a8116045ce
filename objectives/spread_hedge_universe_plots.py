"""Figure of the spread_hedge_universe study's best config: its equity against the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulators.pairs_backtest import SpreadSettings
from simulators.universe_backtest import (
    Selection,
    equal_weight_buy_and_hold,
    walk_forward_universe,
)

if TYPE_CHECKING:
    from objectives.spread_hedge_universe import SpreadHedgeUniverseObjective


def plot_universe(
    obj: SpreadHedgeUniverseObjective, s: SpreadSettings, sel: Selection, out_dir: Path
) -> list[Path]:
    """Cumulative net return of the tuned portfolio, the default pipeline and the equal-weight
    universe (restarting at the split), and the number of pairs traded per window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    n, lo = len(obj.values), obj.warmup
    dates = obj.prices.index[lo:n]
    series = {"tuned portfolio": np.zeros(n - lo), "default pipeline": np.zeros(n - lo)}
    counts_x, counts_y = [], []
    for a, b in ((lo, obj.split), (obj.split, n)):
        walk = walk_forward_universe(obj.backtest, s, sel, a, b)
        series["tuned portfolio"][a - lo : b - lo] = walk.returns
        counts_x += [obj.prices.index[t] for t, _ in walk.windows]
        counts_y += [len(c) for c in walk.selected]
        base = walk_forward_universe(obj.backtest, obj.default, obj.default_selection, a, b)
        series["default pipeline"][a - lo : b - lo] = base.returns
    held = np.concatenate(
        [
            equal_weight_buy_and_hold(obj.values[a - 1 : b], s.cost_bps)
            for a, b in ((lo, obj.split), (obj.split, n))
        ]
    )
    series["equal-weight universe"] = held
    split_date = obj.prices.index[obj.split]

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 1])
    for name, r in series.items():
        cum = np.concatenate([np.cumsum(r[: obj.split - lo]), np.cumsum(r[obj.split - lo :])])
        ax1.plot(dates, cum, lw=1.0, label=name)
    ax1.set_ylabel("cumulative net return (restarts at the split)")
    ax1.set_title(
        f"{sel.test}, p <= {sel.level:g}, k = {sel.k}; {s.method}, formation {s.formation}d, "
        f"trading {s.trading}d, entry {s.rule.entry_z:.2f} / exit {s.rule.exit_z:.2f} / "
        f"stop {s.rule.stop_z:.2f}, {s.cost_bps:g} bps",
        fontsize=9,
    )
    ax1.legend(fontsize=7, loc="upper left")
    ax2.step(counts_x, counts_y, where="post", color="tab:gray")
    ax2.set_ylabel("pairs traded")
    for ax in (ax1, ax2):
        ax.axvline(split_date, color="tab:red", lw=1.0)
        ax.axvspan(split_date, obj.prices.index[-1], color="tab:red", alpha=0.06)
    fig.tight_layout()
    path = out_dir / "spread_hedge_universe_best.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
