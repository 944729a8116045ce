"""The study's own figures (optimisation history, Pareto front, parameter importance), drawn with
matplotlib's headless Agg backend; the objective draws the domain's figures itself."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hedgeopt.config.settings import StudySettings


#: Held while matplotlib is set up: the parent imports it in a thread beside the search, and a
#: thread that found the module in ``sys.modules`` half-imported failed with "partially
#: initialized module 'matplotlib' has no attribute 'use'" (and the figures went missing).
_SETUP = threading.RLock()


def use_headless_figures() -> None:
    """Select matplotlib's Agg backend for this process: figures are files, never windows.

    Imports nothing: a search worker calls this before it builds its objective, and an
    objective that draws imports pyplot itself, which then reads ``MPLBACKEND``.
    """
    with _SETUP:  # never while another thread is importing matplotlib
        os.environ["MPLBACKEND"] = "Agg"
        if "matplotlib" in sys.modules:  # imported already: the variable is read only at import
            sys.modules["matplotlib"].use("Agg")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported (once) under the set-up lock."""
    with _SETUP:
        use_headless_figures()
        import matplotlib.pyplot as plt

    return plt


def preload_plotting() -> None:
    """Import matplotlib (Agg) ahead of the plots, if it is installed."""
    try:
        pyplot()
    except ImportError:
        pass


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def optimization_history(trials: Sequence[Any], metric: str, direction: str, path: Path) -> Path:
    """Objective value per completed trial with the best-so-far line."""
    plt = pyplot()
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if done:
        x = np.array([t.number for t in done])
        y = np.array([t.values[0] for t in done])
        best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
        ax.scatter(x, y, s=14, alpha=0.7, label=metric)
        ax.step(x, best, where="post", color="C3", label="best so far")
        ax.legend()
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({direction} {metric})")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def param_importance(importances: Mapping[str, float], path: Path) -> Path:
    """Horizontal bars of Optuna's fANOVA importances."""
    plt = pyplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.5))
    ax.barh([k for k, _ in items], [v for _, v in items], color="C0")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title("Parameter importance")
    return _save(plt, fig, path)


def pareto_front(
    trials: Sequence[Any], best: Sequence[Any], metrics: Sequence[str], directions: Sequence[str], path: Path
) -> Path:
    """Completed trials in the plane of the first two objectives, the Pareto front highlighted."""
    plt = pyplot()
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    front = sorted(best, key=lambda t: t.values[0])
    fig, ax = plt.subplots(figsize=(7, 5))
    if done:
        ax.scatter(
            [t.values[0] for t in done],
            [t.values[1] for t in done],
            s=14,
            alpha=0.5,
            label="trials",
            color="C0",
        )
    if front:
        ax.plot(
            [t.values[0] for t in front], [t.values[1] for t in front], "o-", color="C3", label="Pareto front"
        )
    ax.set_xlabel(f"{metrics[0]} ({directions[0]})")
    ax.set_ylabel(f"{metrics[1]} ({directions[1]})")
    ax.set_title("Pareto front")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def draw_framework_figures(
    study: Any, trials: Sequence[Any], front: Sequence[Any], settings: StudySettings, out_dir: Path
) -> list[Path]:
    """Optimisation history, Pareto front (multi-objective) and parameter importance."""
    figures = [
        optimization_history(
            trials, settings.metrics[0], settings.directions[0], out_dir / "optimization_history.png"
        )
    ]
    if settings.multi_objective and len(settings.metrics) >= 2:
        figures.append(
            pareto_front(trials, front, settings.metrics, settings.directions, out_dir / "pareto_front.png")
        )
    try:
        imp = _importances(study, trials, settings)
        if imp:
            figures.append(param_importance(imp, out_dir / "param_importance.png"))
    except Exception:  # noqa: BLE001, S110
        pass  # no varying parameter
    return figures


def _importances(study: Any, trials: Sequence[Any], settings: StudySettings) -> dict[str, float]:
    """Optuna's parameter importances, or none from fewer than two completed trials.

    One completed trial has no importances (Optuna would warn that they are all equal); a
    multi-objective study is ranked on its first metric, signed so that lower is better (what
    Optuna's evaluator assumes of a target, and warns about whenever one is given).
    """
    import optuna

    if sum(t.state.name == "COMPLETE" for t in trials) < 2:
        return {}
    sign = -1.0 if settings.directions[0] == "maximize" else 1.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*importances of params to achieve low")
        # conditional params seen in few trials: the figure is indicative, the note is noise
        warnings.filterwarnings("ignore", message=".*have less than 2 trials")
        return optuna.importance.get_param_importances(
            study, target=(lambda t: sign * t.values[0]) if settings.multi_objective else None
        )
