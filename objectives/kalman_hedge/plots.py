"""Figures of the kalman_hedge study: hedge ratios, their stability, the metrics table, the trials.

Drawn from data the objective computes (this module knows nothing of the objective; the
framework has selected matplotlib's Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

#: Columns of the metrics table: (header, 0 = validation / 1 = test, metric, format).
TABLE_COLUMNS = (
    ("val eff (net)", 0, "effectiveness", "{:.4f}"),
    ("test eff (net)", 1, "effectiveness", "{:.4f}"),
    ("test eff (gross)", 1, "effectiveness_gross", "{:.4f}"),
    ("test Sharpe", 1, "sharpe", "{:.2f}"),
    ("test max DD", 1, "max_drawdown", "{:.3f}"),
    ("test turnover/yr", 1, "turnover_annual", "{:.2f}"),
    ("test cost", 1, "total_cost", "{:,.0f}"),
    ("test beta std", 1, "beta_stability", "{:.4f}"),
)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ratios(
    kalman: pd.DataFrame,
    static: pd.DataFrame,
    fold_starts: Sequence[Any],
    test_start: Any,
    title: str,
    path: Path,
) -> Path:
    """One panel per proxy: the Kalman ratios against static OLS over the scored days, with a
    dotted line at each validation fold's start and a solid one at the test period's."""
    m = len(kalman.columns)
    fig, axes = plt.subplots(m, 1, figsize=(11, 2.6 * m), sharex=True, squeeze=False)
    for ax, c in zip(axes[:, 0], kalman.columns, strict=True):
        ax.plot(kalman.index, kalman[c], lw=1.0, label="Kalman (prior beta)")
        ax.plot(static.index, static[c], lw=1.2, ls="--", label="static OLS (train window)")
        for start in fold_starts:
            ax.axvline(start, color="grey", lw=0.6, ls=":")
        ax.axvline(test_start, color="black", lw=1.0, ls="-")
        ax.set_ylabel(f"h {c}")
        ax.grid(alpha=0.25)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[0, 0].set_title(title)
    return _save(fig, path)


def plot_ratio_stability(kalman: pd.DataFrame, window: int, path: Path) -> Path:
    """The ``window``-day rolling standard deviation of each proxy's Kalman ratio."""
    fig, ax = plt.subplots(figsize=(11, 3.5))
    for c in kalman.columns:
        ax.plot(kalman.index, kalman[c].rolling(window).std(ddof=1), lw=1.0, label=c)
    ax.set_title(f"{window}-day rolling std of the Kalman betas")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    return _save(fig, path)


def plot_metrics_table(
    rows: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]], title: str, path: Path
) -> Path:
    """A table of (validation, test) metrics per strategy, as :data:`TABLE_COLUMNS` lists them."""
    cells = [
        [fmt.format(ms[i][key]) if key in ms[i] else "" for _, i, key, fmt in TABLE_COLUMNS]
        for ms in rows.values()
    ]
    fig, ax = plt.subplots(figsize=(13, 0.5 + 0.45 * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(
        cellText=cells, rowLabels=list(rows), colLabels=[c[0] for c in TABLE_COLUMNS], loc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.4)
    ax.set_title(title)
    return _save(fig, path)


def plot_trials(trials: Sequence[Mapping[str, Any]], path: Path) -> list[Path]:
    """Completed trials over (delta, R), coloured by validation effectiveness (none: no figure)."""
    done = [t for t in trials if t.get("state") == "COMPLETE" and "effectiveness" in (t.get("metrics") or {})]
    deltas = [t["params"].get("kalman.signal_to_noise") for t in done]
    rs = [t["params"].get("kalman.observation_noise") for t in done]
    if not done or not all(isinstance(v, (int, float)) for v in deltas + rs):
        return []
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sc = ax.scatter(deltas, rs, c=[t["metrics"]["effectiveness"] for t in done], cmap="viridis", s=28)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("signal-to-noise delta = q / R")
    ax.set_ylabel("observation noise R")
    ax.set_title("trials: validation net hedge effectiveness")
    fig.colorbar(sc, ax=ax)
    return [_save(fig, path)]
