"""Every shipped study's figures, built by its objective on a small config, make their point:
every axes has x and y labels, every colour bar a label, an axis that leaves data out says so
(clipped or log), the trial figures star the best trial, and tables are files, not pictures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import DELTA_HEDGE_SMALL, deep_hedge_small  # noqa: E402

from hedgeopt.config.compose import available_studies, compose  # noqa: E402
from hedgeopt.execution.objective_builder import build_objective  # noqa: E402
from hedgeopt.protocol import NullReporter  # noqa: E402
from objectives.delta_hedge.plots import plot_hedging_error, plot_trials  # noqa: E402

DELTA_SMALL = list(DELTA_HEDGE_SMALL)
DEEP_SMALL = list(deep_hedge_small(epochs=3))
#: (overrides, best params) per shipped study: sizes small enough for seconds.
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "delta_hedge": (DELTA_SMALL, {}),
    "delta_hedge_pareto": (DELTA_SMALL, {}),
    "delta_hedge_seed": (DELTA_SMALL, {}),
    "kalman_hedge": ([], {"kalman.signal_to_noise": 1e-2, "kalman.observation_noise": 1e-4}),
    "spread_hedge": (["surrogates.n=5"], {}),
    "spread_hedge_universe": (["surrogates.n=0"], {}),
    "tail_hedge": (["stress.n_paths=60"], {}),
    "deep_hedge": (DEEP_SMALL, {"train.learning_rate": 0.01}),
    "deep_hedge_gpu": (DEEP_SMALL, {"train.learning_rate": 0.01}),  # the same figures at larger sizes
}
#: Figures over the trials, which must star the best one.
TRIAL_FIGURES = {"pnl_vs_costs.png", "kalman_trials_delta_R.png"}
SAYS_SO = re.compile(r"clip|log|beyond|symlog", re.IGNORECASE)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The Figure objects the plots save, by file name (``plt.close`` keeps them for the test)."""
    figures: dict[str, Any] = {}
    close = plt.close

    def keep(fig: Any = None) -> None:
        if fig is not None and hasattr(fig, "axes"):
            figures[Path(getattr(fig, "_saved_as", f"fig{len(figures)}")).name] = fig

    savefig = matplotlib.figure.Figure.savefig

    def save(self: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        self._saved_as = str(fname)
        return savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(plt, "close", keep)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", save)
    yield figures
    for fig in figures.values():
        close(fig)


def _text(ax: Any) -> str:
    return " ".join([ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.figure.get_suptitle()])


def _has_label(ax: Any, axis: str) -> bool:
    """A label on ``ax``'s ``axis`` or on an axes it shares that axis with (stacked panels)."""
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    return any((a.get_xlabel() if axis == "x" else a.get_ylabel()).strip() for a in shared.get_siblings(ax))


def _beyond_view(ax: Any) -> bool:
    """Whether any line or scatter point drawn in data coordinates lies outside the view."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    tol_x, tol_y = 1e-9 * (x1 - x0), 1e-9 * (y1 - y0)
    points = [ln.get_xydata() for ln in ax.lines if ln.get_transform() is ax.transData]
    points += [c.get_offsets() for c in ax.collections if c.get_offset_transform() is ax.transData]
    for xy in points:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if xy.size and (
            (xy[:, 0] < x0 - tol_x).any()
            or (xy[:, 0] > x1 + tol_x).any()
            or (xy[:, 1] < y0 - tol_y).any()
            or (xy[:, 1] > y1 + tol_y).any()
        ):
            return True
    return False


def check_figure(name: str, fig: Any) -> None:
    """The rules every study figure keeps (see the module docstring)."""
    for ax in fig.axes:
        if not ax.axison:
            continue
        colorbar = getattr(ax, "_colorbar", None)
        if colorbar is not None:
            assert (colorbar.ax.get_ylabel() or colorbar.ax.get_xlabel()).strip(), (
                f"{name}: unlabelled colour bar"
            )
            continue
        assert _has_label(ax, "x"), f"{name}: an axes without an x label ({ax.get_title()!r})"
        assert _has_label(ax, "y"), f"{name}: an axes without a y label ({ax.get_title()!r})"
        if _beyond_view(ax):
            assert SAYS_SO.search(_text(ax)), f"{name}: data beyond the axis, unsaid ({ax.get_title()!r})"
    if name in TRIAL_FIGURES:
        labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert any(lab.startswith("best") for lab in labels), f"{name}: the best trial is not marked"


def _trials(obj: Any, params: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """Twelve completed trials around one real evaluation, two of them outliers, and a failure."""
    metrics = obj(params, NullReporter(tmp_path)).metrics
    rng = np.random.default_rng(0)
    trials = []
    for i in range(12):
        scale = 30.0 if i in (3, 7) else float(rng.uniform(0.8, 1.25))
        trial_params = {**params}
        if "kalman.signal_to_noise" in params:
            trial_params["kalman.signal_to_noise"] = float(10 ** rng.uniform(-4, 0))
            trial_params["kalman.observation_noise"] = float(10 ** rng.uniform(-6, -2))
        trials.append(
            {
                "number": i,
                "state": "COMPLETE",
                "params": trial_params,
                "metrics": {k: v * scale if isinstance(v, float) else v for k, v in metrics.items()},
            }
        )
    return [*trials, {"number": 12, "state": "FAIL", "params": {}, "metrics": {}}]


def test_every_shipped_study_has_a_case() -> None:
    assert set(available_studies()) <= set(CASES)


@pytest.mark.parametrize("study", sorted(CASES))
def test_study_figures_make_their_point(study: str, drawn: dict[str, Any], tmp_path: Path) -> None:
    overrides, params = CASES[study]
    obj = build_objective(compose([f"+study={study}", *overrides]))
    paths = obj.plots(params, _trials(obj, params, tmp_path), tmp_path / "plots")
    assert paths and all(Path(p).is_file() and Path(p).stat().st_size > 500 for p in paths)
    pngs = {Path(p).name for p in paths if Path(p).suffix == ".png"}
    assert pngs and pngs <= set(drawn), f"figures not seen: {pngs - set(drawn)}"
    for name in sorted(drawn):  # the trials' own figures too (deep_hedge's training curve)
        check_figure(name, drawn[name])
    if study.startswith("delta_hedge"):
        assert "pnl_vs_costs.png" in pngs
    if study == "kalman_hedge":
        names = {Path(p).name for p in paths}
        assert {"kalman_metrics_table.csv", "kalman_metrics_table.html"} <= names
        assert "kalman_metrics_table.png" not in names and "kalman_trials_delta_R.png" in pngs


def test_framework_figures_label_their_axes(drawn: dict[str, Any], tmp_path: Path) -> None:
    from types import SimpleNamespace

    from hedgeopt.results.figures import param_importance, pareto_front

    done = SimpleNamespace(name="COMPLETE")
    trials = [SimpleNamespace(number=i, state=done, values=[float(i), 10.0 - i]) for i in range(5)]
    pareto_front(
        trials, trials, ["hedging_risk", "costs"], ["minimize", "minimize"], tmp_path / "pareto_front.png"
    )
    param_importance({"hedge.band_scale": 0.7, "hedge.hedge_ratio": 0.3}, tmp_path / "param_importance.png")
    assert {"pareto_front.png", "param_importance.png"} <= set(drawn)
    for name, fig in drawn.items():
        check_figure(name, fig)


def test_box_plot_clips_the_unhedged_outliers_and_says_so(drawn: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    errors = {
        "best": rng.normal(0, 1_000, 400),
        "whalley_wilmott": rng.normal(0, 1_200, 400),
        "every_tick": rng.normal(0, 900, 400),
        "no_hedge": rng.normal(0, 60_000, 400) - 157_000 * (rng.random(400) < 0.02),
    }
    points = {k: (float(np.std(e)) / 10, float(np.std(e))) for k, e in errors.items()}
    plot_hedging_error(errors, points, tmp_path / "pnl_distribution.png")
    ax = drawn["pnl_distribution.png"].axes[0]
    lo, hi = ax.get_ylim()
    assert -6_000 < lo < -2_000 and 2_000 < hi < 6_000  # the hedged boxes fill the axis
    assert "clipped" in ax.get_title() and "no_hedge" in ax.get_title()
    assert "best" not in ax.get_title().split("beyond:")[1]
    check_figure("pnl_distribution.png", drawn["pnl_distribution.png"])


def test_colour_scale_clipped_to_quantiles_and_the_bar_says_so(drawn: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    trials = [
        {
            "state": "COMPLETE",
            "metrics": {"costs": c, "hedging_risk": r, "risk_cost": c + r},
            "params": {},
        }
        for c, r in zip(rng.uniform(100, 200, 40), rng.uniform(800, 1_000, 40), strict=True)
    ]
    trials[0]["metrics"]["risk_cost"] = 25_000.0  # the two outliers that stretched the scale
    trials[1]["metrics"]["risk_cost"] = 20_000.0
    plot_trials(trials, ["risk_cost"], ["minimize"], tmp_path)
    fig = drawn["pnl_vs_costs.png"]
    bar = next(ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None)
    assert "clipped to 5-95%" in bar.ax.get_ylabel() and "USD" in bar.ax.get_ylabel()
    assert bar.vmax < 1_500  # the outlier no longer sets the top of the scale
    check_figure("pnl_vs_costs.png", fig)
