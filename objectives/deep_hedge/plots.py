"""Figures of the deep_hedge study, drawn from tensors the objective computes (this module knows
nothing of the objective; the framework has selected matplotlib's Agg backend):

* ``training_curve.csv`` / ``training_curve.png``: train loss and validation CVaR95 per epoch;
* ``pnl_histogram.png``: terminal P&L of the deep hedger beside the every-step baselines;
* ``hedge_ratio_vs_moneyness.png``: hedge ratio against S/K at a few times to maturity.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch


def write_training_curve(history: Sequence[Mapping[str, float]], out_dir: Path) -> None:
    """training_curve.csv and training_curve.png (train loss and validation CVaR95 per epoch)."""
    if not history:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(history[0].keys())
    with open(out_dir / "training_curve.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss (CVaR_alpha + beta MSE)")
    ax.plot(epochs, [h["val_cvar95"] for h in history], label="validation CVaR95 of -P&L")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss, CVaR95 (price units per option)")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out_dir / "training_curve.png", dpi=90)


def plot_pnl_histogram(pnls: Mapping[str, torch.Tensor], cvar95: Mapping[str, float], path: Path) -> Path:
    """Overlaid histograms of each hedge's terminal P&L on the held-out test paths."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    allp = torch.cat(list(pnls.values()))
    lo, hi = float(torch.quantile(allp, 0.002)), float(torch.quantile(allp, 0.998))
    outside = int(((allp < lo) | (allp > hi)).sum())
    bins = torch.linspace(lo, hi, 60).numpy()
    for name, pnl in pnls.items():
        ax.hist(
            pnl.numpy(),
            bins=bins,
            alpha=0.45,
            label=f"{name}: std {float(pnl.std()):.3f}, CVaR95 {cvar95[name]:.3f}",
        )
    ax.set_xlabel("terminal P&L per option (price units, held-out test paths)")
    ax.set_ylabel("paths per bin")
    ax.set_title(
        f"Terminal P&L; axis clipped to the pooled 0.2-99.8% quantiles ({outside} path-values beyond)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_hedge_ratio_vs_moneyness(
    spot: torch.Tensor,
    n_steps: int,
    maturity: float,
    strike: float,
    hedges: Mapping[str, torch.Tensor],
    path: Path,
) -> Path:
    """Hedge ratio of each hedge against moneyness S/K at a quarter, half and the end of the
    life of the option (``spot`` [paths, n_steps + 1], ``hedges`` [paths, n_steps])."""
    n = n_steps
    steps = sorted({n // 4, n // 2, max(n - 2, 0)}) if n > 3 else list(range(n))
    fig, axes = plt.subplots(
        1, len(steps), figsize=(4 * len(steps), 3.6), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, k in zip(axes[0], steps, strict=False):
        x = (spot[:, k] / strike).numpy()
        for name, h in hedges.items():
            ax.scatter(x, h[:, k].numpy(), s=3, alpha=0.4, label=name)
        tau = maturity * (1 - k / n)
        ax.set_title(f"time to maturity {tau:.3f}y (step {k})", fontsize=9)
        ax.set_xlabel("moneyness S/K")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("hedge ratio (underlying units per option)")
    axes[0][0].legend(fontsize=8, markerscale=4)
    return _save(fig, path)


def _save(fig: Any, path: Path, dpi: int = 100) -> Path:
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
