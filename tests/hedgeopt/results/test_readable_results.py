"""The console table says what it cut; the history figure shows the baseline, the best trial and
a robust axis; the verdict and the search space in one line each."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hedgeopt.config.search_space import SearchSpace
from hedgeopt.results import figures
from hedgeopt.results.summary import StudyOutcome, study_summary
from hedgeopt.tracking.parent_run import search_space_line, verdict_line


def _summary(in_sample: dict[str, float]) -> str:
    return study_summary(
        StudyOutcome("s", {"COMPLETE": 1}, {"a": 1}, in_sample, {}, {}, ["m0"], [Path("x")], "mlflow ui", "1")
    )


def test_a_cut_metric_table_counts_what_it_left_out_and_says_where_it_is():
    text = _summary({f"m{i}": float(i) for i in range(20)})
    assert "m13" in text and "m14 " not in text
    assert "... 6 more metric rows not shown" in text
    assert "results.csv" in text
    assert "not shown" not in _summary({f"m{i}": float(i) for i in range(14)})


def _trials(values):
    return [
        SimpleNamespace(number=i, state=SimpleNamespace(name="COMPLETE"), values=[v])
        for i, v in enumerate(values)
    ]


def test_history_clips_the_worst_trials_and_goes_log_over_decades(tmp_path, monkeypatch):
    seen = {}
    plt = figures.pyplot()
    real = figures._save

    def keep(plt_, fig, path):
        ax = fig.axes[0]
        seen.update(
            scale=ax.get_yscale(),
            ylim=ax.get_ylim(),
            title=ax.get_title(),
            labels=ax.get_legend_handles_labels()[1],
            hlines=[ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--"],
        )
        return real(plt_, fig, path)

    monkeypatch.setattr(figures, "_save", keep)
    rng = np.random.default_rng(0)
    values = list(950 + 20 * rng.random(40)) + [25_000, 30_000, 1_200, 18_000, 22_000]
    path = figures.optimization_history(
        _trials(values), "risk_cost", "minimize", tmp_path / "h.png", 3, ("whalley_wilmott", 960.0)
    )
    assert path.is_file() and plt is not None
    assert seen["hlines"] == [960.0]
    assert any(lbl.startswith("best baseline: whalley_wilmott") for lbl in seen["labels"])
    assert any(lbl.startswith("best trial 3") for lbl in seen["labels"])
    assert "clipped to the axis" in seen["title"]
    assert seen["ylim"][1] < 10_000  # the converged range is not squashed by the 25,000s
    assert seen["scale"] == "linear"
    figures.optimization_history(
        _trials([1e-4, 1e-3, 1e-2, 0.1, 1.0]), "loss", "minimize", tmp_path / "g.png"
    )
    assert seen["scale"] == "log" and "log axis" in seen["title"]


def test_the_best_baseline_is_the_verdicts_else_the_best_in_sample():
    base = {"a": {"in_sample": {"m": 3.0}}, "b": {"in_sample": {"m": 1.0}}, "c": {"in_sample": {}}}
    assert figures.best_baseline("m", "minimize", {"verdict": {"best_baseline": "a"}}, base) == ("a", 3.0)
    assert figures.best_baseline("m", "minimize", {"verdict": {}}, base) == ("b", 1.0)
    assert figures.best_baseline("m", "maximize", {}, base) == ("a", 3.0)
    assert figures.best_baseline("m", "minimize", {}, {}) is None


@pytest.mark.parametrize(
    ("verdict", "line"),
    [
        (
            {
                "outcome": "ties",
                "best_baseline": "whalley_wilmott",
                "prefer": "whalley_wilmott",
                "difference": {"value": 2.51, "low": -9.42, "high": 14.2},
            },
            "ties whalley_wilmott: +2.51 [-9.42, 14.2]; prefer the baseline",
        ),
        (
            {
                "outcome": "wins",
                "best_baseline": "every_tick",
                "difference": {"value": -30.0, "low": -41.0, "high": -12.5},
            },
            "wins every_tick: -30 [-41, -12.5]; prefer the tuned config",
        ),
        (
            {"outcome": "not assessed", "text": "Point figures only: x is below y by -3. More words."},
            "Point figures only: x is below y by -3",
        ),
    ],
)
def test_the_verdict_in_one_line(verdict, line):
    assert verdict_line(verdict) == line


def test_the_search_space_in_one_line():
    space = SearchSpace.from_config(
        {
            "h.mode": {"type": "categorical", "choices": ["fixed", "ww"]},
            "h.t": {"type": "float", "low": 0.01, "high": 0.5, "log": True, "when": {"h.mode": ["fixed"]}},
        },
        {"h": {"mode": "fixed", "t": 0.1}},
    )
    assert search_space_line(space) == "h.mode {fixed, ww}; h.t [0.01, 0.5] log when h.mode in ['fixed']"
