"""Figures of the kalman_hedge study: hedge ratios, their stability, the trials; the metrics table
as CSV and HTML (a table drawn as a picture can be neither sorted nor copied).

Drawn from data the objective computes (this module knows nothing of the objective; the
framework has selected matplotlib's Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from objectives.plot_marks import mark_best

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
    fig, axes = plt.subplots(m, 1, figsize=(11, 2.6 * m), sharex=True, squeeze=False, layout="constrained")
    for ax, c in zip(axes[:, 0], kalman.columns, strict=True):
        ax.plot(kalman.index, kalman[c], lw=1.0, label="Kalman (prior beta)")
        ax.plot(static.index, static[c], lw=1.2, ls="--", label="static OLS (train window)")
        for start in fold_starts:
            ax.axvline(start, color="grey", lw=0.6, ls=":")
        ax.axvline(test_start, color="black", lw=1.0, ls="-")
        ax.set_ylabel(f"hedge ratio h {c}\n(units per unit target)", fontsize=9)
        ax.grid(alpha=0.25)
    axes[-1, 0].set_xlabel("date")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[0, 0].set_title(title)
    return _save(fig, path)


def plot_ratio_stability(kalman: pd.DataFrame, window: int, path: Path) -> Path:
    """The ``window``-day rolling standard deviation of each proxy's Kalman ratio."""
    fig, ax = plt.subplots(figsize=(11, 3.5), layout="constrained")
    for c in kalman.columns:
        ax.plot(kalman.index, kalman[c].rolling(window).std(ddof=1), lw=1.0, label=c)
    ax.set_title(f"{window}-day rolling std of the Kalman betas")
    ax.set_xlabel("date")
    ax.set_ylabel(f"std of hedge ratio over {window} days")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    return _save(fig, path)


def metrics_table(rows: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]]) -> pd.DataFrame:
    """(validation, test) metrics per strategy, one row each, as :data:`TABLE_COLUMNS` lists them."""
    return pd.DataFrame(
        [[ms[i][key] if key in ms[i] else np.nan for _, i, key, _ in TABLE_COLUMNS] for ms in rows.values()],
        index=pd.Index(list(rows), name="strategy"),
        columns=[c[0] for c in TABLE_COLUMNS],
    )


def write_metrics_table(
    rows: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]], title: str, stem: Path
) -> list[Path]:
    """``stem``.csv (full precision) and ``stem``.html (formatted, ``title`` as its caption)."""
    table = metrics_table(rows)
    csv, html = stem.with_suffix(".csv"), stem.with_suffix(".html")
    table.to_csv(csv, float_format="%.6g")
    formats = {name: fmt.format for name, _, _, fmt in TABLE_COLUMNS}
    body = table.to_html(formatters=formats, na_rep="", border=0)
    html.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
        f"<h3>{title}</h3>{body}\n"
    )
    return [csv, html]


def plot_trials(trials: Sequence[Mapping[str, Any]], path: Path) -> list[Path]:
    """Completed trials over (delta, R), coloured by validation effectiveness (the scale clipped to
    the 5-95% quantiles from 10 trials on), the best trial starred (none: no figure)."""
    done = [t for t in trials if t.get("state") == "COMPLETE" and "effectiveness" in (t.get("metrics") or {})]
    deltas = [t["params"].get("kalman.signal_to_noise") for t in done]
    rs = [t["params"].get("kalman.observation_noise") for t in done]
    if not done or not all(isinstance(v, (int, float)) for v in deltas + rs):
        return []
    eff = np.array([t["metrics"]["effectiveness"] for t in done], dtype=float)
    vmin, vmax = np.nanquantile(eff, [0.05, 0.95], method="nearest") if len(done) >= 10 else (None, None)
    clipped = vmin is not None and bool(np.any((eff < vmin) | (eff > vmax)))
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    sc = ax.scatter(deltas, rs, c=eff, cmap="viridis", vmin=vmin, vmax=vmax, s=28)
    b = int(np.nanargmax(eff))
    mark_best(ax, deltas[b], rs[b], f"best: effectiveness {eff[b]:.4f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("signal-to-noise delta = q / R (log axis)")
    ax.set_ylabel("observation noise R (return variance, log axis)")
    ax.set_title("trials: validation net hedge effectiveness")
    fig.colorbar(
        sc,
        ax=ax,
        label="validation net effectiveness" + (" (colour clipped to 5-95%)" if clipped else ""),
        extend="both" if clipped else "neither",
    )
    return [_save(fig, path)]
