"""One figure per shipped study for docs/images, drawn by the study's own ``Objective.plots``.

Each study is built at small sizes (seconds to a minute) and plotted for its base config (or
the config named below); the trial figures come from a few real evaluations on a grid, never
from invented metrics. Figures are re-saved at dpi 80 as ``docs/images/<study>_<name>.png``:

    PYTHONPATH=. python docs/images/study_figures.py            # every study
    PYTHONPATH=. python docs/images/study_figures.py kalman_hedge
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hedgeopt.config.compose import compose  # noqa: E402
from hedgeopt.execution.objective_builder import build_objective  # noqa: E402
from hedgeopt.protocol import NullReporter  # noqa: E402

HERE = Path(__file__).resolve().parent
DELTA = ["paths.n_paths=48", "paths.n_paths_oos=96", "simulator.horizon_hours=48"]
WW = {"hedge.band_mode": "whalley_wilmott", "hedge.band_scale": 1.0, "hedge.cadence_seconds": None}
FIXED = {"hedge.band_mode": "fixed", "hedge.cadence_seconds": 3600.0, "hedge.hedge_ratio": 0.9}
#: study -> (overrides, plotted params, figure to keep, grid of trial params or None).
STUDIES: dict[str, tuple[list[str], dict[str, Any], str, list[dict[str, Any]] | None]] = {
    "delta_hedge": (DELTA, WW, "pnl_distribution.png", None),
    "delta_hedge_pareto": (
        DELTA,
        WW,
        "risk_cost_pareto.png",
        [{**FIXED, "hedge.delta_threshold": d} for d in (0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6)],
    ),
    "delta_hedge_seed": (DELTA, WW, "hedge_trace.png", None),
    "kalman_hedge": (
        [],
        {"kalman.signal_to_noise": 1e-2, "kalman.observation_noise": 1e-4},
        "kalman_trials_delta_R.png",
        [
            {"kalman.signal_to_noise": q, "kalman.observation_noise": r}
            for q in (1e-4, 1e-3, 1e-2, 1e-1)
            for r in (1e-5, 1e-4, 1e-3)
        ],
    ),
    "spread_hedge": (["surrogates.n=0"], {}, "spread_hedge_best_trades.png", None),
    "spread_hedge_universe": (["surrogates.n=0"], {}, "spread_hedge_universe_best.png", None),
    "tail_hedge": (["stress.n_paths=60"], {}, "equity_curves.png", None),
    "deep_hedge": (
        ["data.n_train=1024", "data.n_test=2048", "train.epochs=30", "train.accelerator=cpu"],
        {},
        "pnl_histogram.png",
        None,
    ),
}


def render(study: str) -> Path:
    """Build ``study``, draw its figures and re-save the chosen one at dpi 80."""
    overrides, params, name, grid = STUDIES[study]
    obj = build_objective(compose([f"+study={study}", *overrides]))
    kept: dict[str, Any] = {}
    close, savefig = plt.close, matplotlib.figure.Figure.savefig

    def keep(fig: Any = None) -> None:  # the plots close what they save: keep it to save again
        if fig is not None:
            kept[Path(fig._saved_as).name] = fig

    def remember(self: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        self._saved_as = str(fname)
        return savefig(self, fname, *args, **kwargs)

    plt.close, matplotlib.figure.Figure.savefig = keep, remember  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trials = [
                {
                    "number": i,
                    "state": "COMPLETE",
                    "params": p,
                    "metrics": obj(p, NullReporter(Path(tmp))).metrics,
                }
                for i, p in enumerate(grid or [])
            ]
            obj.plots(params, trials, Path(tmp) / "plots")
            out = HERE / f"{study}_{name}"
            savefig(kept[name], out, dpi=80)
    finally:
        plt.close, matplotlib.figure.Figure.savefig = close, savefig  # type: ignore[method-assign]
        for fig in kept.values():
            close(fig)
    return out


if __name__ == "__main__":
    for s in sys.argv[1:] or list(STUDIES):
        path = render(s)
        print(f"{path.relative_to(HERE.parent.parent)}: {path.stat().st_size / 1024:.0f} KiB")
