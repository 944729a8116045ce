"""Figures of the kalman_hedge study: hedge ratios, their stability, the metrics table, the trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hedgeopt.protocol import NullReporter

if TYPE_CHECKING:
    from objectives.kalman_hedge import KalmanHedgeObjective


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def kalman_plots(obj: KalmanHedgeObjective, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Ratios of the tuned filter against static OLS over every scored window; rolling std of the
    betas; a table of validation and test metrics beside the baselines; trials over (delta, R)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = obj.configure(best_params)
    windows = [*obj.folds, obj.walk.test]
    idx = obj.scored_dates(windows[0]).append([obj.scored_dates(w) for w in windows[1:]])
    kal = pd.DataFrame(np.vstack([obj.kalman_ratios(w, cfg) for w in windows]), index=idx, columns=obj.proxies)
    stat = pd.DataFrame(np.vstack([obj.static_ratios("ols", w) for w in windows]), index=idx, columns=obj.proxies)
    paths: list[Path] = []

    m = len(obj.proxies)
    fig, axes = plt.subplots(m, 1, figsize=(11, 2.6 * m), sharex=True, squeeze=False)
    for ax, c in zip(axes[:, 0], obj.proxies):
        ax.plot(kal.index, kal[c], lw=1.0, label="Kalman (prior beta)")
        ax.plot(stat.index, stat[c], lw=1.2, ls="--", label="static OLS (train window)")
        for w in obj.folds:
            ax.axvline(obj.index[w.scored[0]], color="grey", lw=0.6, ls=":")
        ax.axvline(obj.index[obj.walk.test.scored[0]], color="black", lw=1.0, ls="-")
        ax.set_ylabel(f"h {c}")
        ax.grid(alpha=0.25)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    q, r = obj.noise(obj.walk.test, cfg)
    axes[0, 0].set_title(f"{obj.target} hedge ratios (test q={q:.2e}, R={r:.2e}); dotted: validation folds, solid: test start")
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "kalman_vs_static_ratios.png"))

    window = int(cfg["engine"].get("stability_window", 20))
    fig, ax = plt.subplots(figsize=(11, 3.5))
    for c in obj.proxies:
        ax.plot(kal.index, kal[c].rolling(window).std(ddof=1), lw=1.0, label=c)
    ax.set_title(f"{window}-day rolling std of the Kalman betas")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "kalman_beta_rolling_std.png"))

    rows = {"kalman_tuned": (obj(best_params, NullReporter(out_dir)).metrics, obj.evaluate(best_params).metrics)}
    for name, b in obj.baselines().items():
        rows[name] = (b["in_sample"].metrics, b["out_of_sample"].metrics)
    cols = [
        ("val eff (net)", 0, "effectiveness", "{:.4f}"),
        ("test eff (net)", 1, "effectiveness", "{:.4f}"),
        ("test eff (gross)", 1, "effectiveness_gross", "{:.4f}"),
        ("test Sharpe", 1, "sharpe", "{:.2f}"),
        ("test max DD", 1, "max_drawdown", "{:.3f}"),
        ("test turnover/yr", 1, "turnover_annual", "{:.2f}"),
        ("test cost", 1, "total_cost", "{:,.0f}"),
        ("test beta std", 1, "beta_stability", "{:.4f}"),
    ]
    cells = [[fmt.format(ms[i][key]) if key in ms[i] else "" for _, i, key, fmt in cols] for ms in rows.values()]
    fig, ax = plt.subplots(figsize=(13, 0.5 + 0.45 * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=list(rows), colLabels=[c[0] for c in cols], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.4)
    ax.set_title(f"{obj.target} hedged with {', '.join(obj.proxies)}: {len(obj.folds)} validation folds, test {obj.walk.test.name}")
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "kalman_metrics_table.png"))

    done = [t for t in trials if t.get("state") == "COMPLETE" and "effectiveness" in (t.get("metrics") or {})]
    deltas = [t["params"].get("kalman.signal_to_noise") for t in done]
    rs = [t["params"].get("kalman.observation_noise") for t in done]
    if done and all(isinstance(v, (int, float)) for v in deltas + rs):
        fig, ax = plt.subplots(figsize=(6.5, 5))
        sc = ax.scatter(deltas, rs, c=[t["metrics"]["effectiveness"] for t in done], cmap="viridis", s=28)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("signal-to-noise delta = q / R")
        ax.set_ylabel("observation noise R")
        ax.set_title("trials: validation net hedge effectiveness")
        fig.colorbar(sc, ax=ax)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "kalman_trials_delta_R.png"))
    return paths
