"""The study's own figures (optimisation history, Pareto front, parameter importance), drawn with
matplotlib's headless Agg backend; the objective draws the domain's figures itself."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
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


def _robust_limits(
    y: np.ndarray, keep: Sequence[float], direction: str, q: float = 0.9
) -> tuple[float, float, int]:
    """``(low, high, n_clipped)``: the bad side of ``y`` cut at its ``q`` quantile (outliers of a
    search are its worst trials), the good side and ``keep`` (best, baseline) always in view."""
    vals = np.concatenate([y, np.asarray(keep, dtype=float)])
    lo, hi = float(np.min(vals)), float(np.max(vals))
    if len(y) >= 10:
        if direction == "maximize":
            lo = min(float(np.quantile(y, 1 - q)), *keep) if keep else float(np.quantile(y, 1 - q))
        else:
            hi = max(float(np.quantile(y, q)), *keep) if keep else float(np.quantile(y, q))
    n = int(np.sum((y < lo) | (y > hi)))
    return lo, hi, n


def optimization_history(
    trials: Sequence[Any],
    metric: str,
    direction: str,
    path: Path,
    best_number: int | None = None,
    baseline: tuple[str, float] | None = None,
) -> Path:
    """Objective value per completed trial, the best-so-far line, the best trial marked and the
    best baseline's value as a horizontal line; the worst trials' outliers clipped (the title says
    how many) and a log axis where the values span a decade or more."""
    plt = pyplot()
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    notes = []
    if done:
        x = np.array([t.number for t in done])
        y = np.array([t.values[0] for t in done], dtype=float)
        best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
        keep = [float(best[-1])] + (
            [baseline[1]] if baseline is not None and np.isfinite(baseline[1]) else []
        )
        lo, hi, n_out = _robust_limits(y, keep, direction)
        shown = np.clip(y, lo, hi)
        inside = (y >= lo) & (y <= hi)
        ax.scatter(x[inside], y[inside], s=14, alpha=0.6, color="C0", label=f"trial {metric}")
        if n_out:
            edge = "^" if direction == "minimize" else "v"
            ax.scatter(
                x[~inside], shown[~inside], s=22, marker=edge, color="C7", label=f"{n_out} beyond the axis"
            )
            notes.append(f"{n_out} worst trial{'s' if n_out > 1 else ''} clipped to the axis (90% quantile)")
        ax.step(x, best, where="post", color="C3", lw=1.8, label="best so far")
        if baseline is not None and np.isfinite(baseline[1]):
            ax.axhline(
                baseline[1],
                color="k",
                ls="--",
                lw=1.2,
                label=f"best baseline: {baseline[0]} ({baseline[1]:.4g})",
            )
        if best_number is not None and best_number in set(x.tolist()):
            bv = float(y[x == best_number][0])
            ax.scatter(
                [best_number],
                [bv],
                s=140,
                marker="*",
                color="gold",
                edgecolor="k",
                zorder=5,
                label=f"best trial {best_number} ({bv:.4g})",
            )
        pad = 0.05 * (hi - lo or abs(hi) or 1.0)
        if lo > 0 and hi / lo >= 10:
            ax.set_yscale("log")
            ax.set_ylim(lo / 1.15, hi * 1.15)
            notes.append("log axis")
        else:
            ax.set_ylim(lo - pad, hi + pad)
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{metric} (in-sample)")
    title = f"Optimisation history ({direction} {metric})"
    ax.set_title(title + ("\n" + "; ".join(notes) if notes else ""), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    return _save(plt, fig, path)


def best_baseline(
    metric: str, direction: str, confidence: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> tuple[str, float] | None:
    """The baseline the verdict names (else the best in sample) and its in-sample ``metric``."""
    values = {
        n: float(v)
        for n, res in baselines.items()
        if isinstance(v := (res.get("in_sample") or {}).get(metric), (int, float)) and np.isfinite(float(v))
    }
    if not values:
        return None
    name = (confidence.get("verdict") or {}).get("best_baseline")
    if name not in values:
        name = (max if direction == "maximize" else min)(values, key=values.__getitem__)
    return str(name), values[name]


def history_figure(
    trials: Sequence[Any],
    best_number: int,
    settings: StudySettings,
    confidence: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
) -> Path | None:
    """``optimization_history.png`` with the best trial and the best baseline, or None (and a
    warning) if it could not be drawn: a figure never fails the study."""
    metric, direction = settings.metrics[0], settings.directions[0]
    return _never_failing(
        "the optimisation history",
        lambda: optimization_history(
            trials,
            metric,
            direction,
            out_dir / "optimization_history.png",
            best_number,
            best_baseline(metric, direction, confidence, baselines),
        ),
    )


def _never_failing(what: str, draw: Callable[[], Path]) -> Path | None:
    """``draw()``, or None and a one-line warning naming ``what`` was not drawn: a figure never
    fails the study."""
    try:
        return draw()
    except Exception as exc:  # noqa: BLE001
        print(f"hedgeopt: warning: {what} was not drawn: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def param_importance(importances: Mapping[str, float], path: Path) -> Path:
    """Horizontal bars of Optuna's fANOVA importances."""
    plt = pyplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.5))
    ax.barh([k for k, _ in items], [v for _, v in items], color="C0")
    ax.set_xlabel("importance (fANOVA, share of the variance of the first metric)")
    ax.set_ylabel("parameter")
    ax.set_title("Parameter importance")
    return _save(plt, fig, path)


def pareto_front(
    trials: Sequence[Any],
    best: Sequence[Any],
    metrics: Sequence[str],
    directions: Sequence[str],
    path: Path,
    chosen: Any = None,
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
    chosen_point: Mapping[str, Any] | None = None,
) -> Path:
    """Completed trials in the plane of the first two objectives, the Pareto front highlighted,
    the chosen trial and the baselines' in-sample points on the same axes; with
    ``chosen_point`` (:func:`hedgeopt.results.pareto.chosen_point`), a second panel sets the
    chosen point beside the baselines out of sample."""
    plt = pyplot()
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    front = sorted(best, key=lambda t: t.values[0])
    table = (chosen_point or {}).get("out_of_sample") or {}
    fig, axes = plt.subplots(1, 2 if table else 1, figsize=(13 if table else 7, 5), squeeze=False)
    ax = axes[0][0]
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
    if chosen is not None:
        _chosen_star(ax, (chosen.values[0], chosen.values[1]))
    ins = {
        n: (float(v[metrics[0]]), float(v[metrics[1]]))
        for n, r in (baselines or {}).items()
        if all((v := dict(r.get("in_sample") or {})).get(m) is not None for m in metrics[:2])
    }
    _baseline_points(ax, ins)
    ax.set_title("Pareto front (in sample)")
    if table:
        oos = {n: (v[metrics[0]], v[metrics[1]]) for n, v in table.items()}
        ax2 = axes[0][1]
        chosen_xy = oos.pop(next(iter(table)))  # the chosen point comes first
        _chosen_star(ax2, chosen_xy)
        _baseline_points(ax2, oos)
        ax2.set_title("Chosen point beside the baselines (out of sample)")
    for a in axes[0]:
        a.set_xlabel(f"{metrics[0]} ({directions[0]})")
        a.set_ylabel(f"{metrics[1]} ({directions[1]})")
        a.legend()
        a.grid(alpha=0.3)
    return _save(plt, fig, path)


def _chosen_star(ax: Any, xy: tuple[float, float]) -> None:
    ax.scatter([xy[0]], [xy[1]], s=160, marker="*", color="k", zorder=5, label="chosen")


def _baseline_points(ax: Any, points: Mapping[str, tuple[float, float]]) -> None:
    if not points:
        return
    xs, ys = zip(*points.values(), strict=True)
    ax.scatter(xs, ys, s=40, marker="x", color="C2", zorder=4, label="baselines")
    for name, xy in points.items():
        ax.annotate(name, xy, fontsize=8, xytext=(3, 3), textcoords="offset points")


def pareto_figure(
    trials: Sequence[Any],
    front: Sequence[Any],
    chosen: Any,
    settings: StudySettings,
    confidence: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
) -> Path | None:
    """``pareto_front.png`` once the baselines are known (multi-objective only), or None (and
    a warning) if it could not be drawn: a figure never fails the study."""
    if not (settings.multi_objective and len(settings.metrics) >= 2):
        return None
    return _never_failing(
        "the Pareto front",
        lambda: pareto_front(
            trials,
            front,
            settings.metrics,
            settings.directions,
            out_dir / "pareto_front.png",
            chosen,
            baselines,
            confidence.get("chosen_point"),
        ),
    )


def draw_framework_figures(
    study: Any, trials: Sequence[Any], settings: StudySettings, out_dir: Path
) -> list[Path]:
    """Parameter importance (the history and the Pareto front: :func:`history_figure` and
    :func:`pareto_figure`, once the baselines are known)."""
    figures: list[Path] = []
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
