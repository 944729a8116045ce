"""A multi-objective study's export says which rule picked its front point and sets it beside
every baseline out of sample; the verdict names a baseline that dominates it."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import pytest

from hedgeopt.results import figures
from hedgeopt.results.assessment import assess_study
from hedgeopt.results.assessment_text import summary_lines
from hedgeopt.results.export import build_export
from hedgeopt.results.pareto import CHOSEN, KNEE_RULE, chosen_point, dominates, knee_index
from hedgeopt.study.finish import knee
from hedgeopt.tracking.parent_run import verdict_line

FRONT = [(0.0, 10.0), (1.0, 4.0), (3.0, 2.0), (10.0, 0.0)]


def test_the_knee_is_the_front_point_nearest_the_scaled_ideal_point():
    # by hand: both ranges are 10, so the scaled points are v / 10 and their distances to (0, 0)
    dist = [math.hypot(a / 10, b / 10) for a, b in FRONT]  # 1, 0.412, 0.361, 1
    assert knee_index(FRONT, ("minimize", "minimize")) == dist.index(min(dist)) == 2
    # maximising the second metric makes (10, 10)-like corners ideal: (0, 10) is at the ideal x
    # and the best y, distance 0
    assert knee_index(FRONT, ("minimize", "maximize")) == 0
    trials = [SimpleNamespace(values=list(v)) for v in FRONT]
    assert knee(trials, ("minimize", "minimize")) is trials[2]  # the study picks by the same rule


def test_dominance_follows_each_metrics_direction():
    dirs = ("minimize", "maximize")
    assert dominates((1.0, 5.0), (2.0, 5.0), dirs)  # lower first, same second
    assert dominates((2.0, 6.0), (2.0, 5.0), dirs)  # higher second
    assert not dominates((2.0, 5.0), (2.0, 5.0), dirs)  # equal is not dominance
    assert not dominates((1.0, 4.0), (2.0, 5.0), dirs)  # a trade-off
    assert not dominates((1.0, 5.0), (2.0, 5.0), ("maximize", "maximize"))


BASELINES = {
    # hedging-like shapes: no costs but large risk, a cheaper and less risky band, the costly tick
    "never": {"in_sample": {"risk": 30.0, "cost": 0.0}, "out_of_sample": {"risk": 30.0, "cost": 0.0}},
    "band": {"in_sample": {"risk": 8.0, "cost": 4.0}, "out_of_sample": {"risk": 9.0, "cost": 4.0}},
    "tick": {"in_sample": {"risk": 1.0, "cost": 50.0}, "out_of_sample": {"risk": 1.0, "cost": 60.0}},
    "worse": {"in_sample": {"risk": 12.0, "cost": 6.0}, "out_of_sample": {"risk": 12.0, "cost": 6.0}},
    "half": {"in_sample": {"risk": 8.0}, "out_of_sample": {"risk": 8.0}},  # no cost figure
}
DIRS = ("minimize", "minimize")


def test_the_chosen_point_beside_every_baseline_out_of_sample():
    oos = {k: v["out_of_sample"] for k, v in BASELINES.items()}
    c = chosen_point(("risk", "cost"), DIRS, {"risk": 10.0, "cost": 5.0}, oos, front_size=7)
    assert c["rule"] == KNEE_RULE and c["front_size"] == 7
    assert c["out_of_sample"][CHOSEN] == {"risk": 10.0, "cost": 5.0}
    assert c["out_of_sample"]["tick"] == {"risk": 1.0, "cost": 60.0}
    assert c["relation"] == {
        "never": "trade-off",
        "band": "dominates",
        "tick": "trade-off",
        "worse": "dominated",
    }
    assert c["dominated_by"] == ["band"] and c["dominates"] == ["worse"]
    assert c["on_front"] == ["never", "band", "tick"]  # the chosen point is off it (band beats it)
    assert c["incomplete"] == ["half"]
    assert "'band' dominates the chosen point" in c["text"] and "prefer the baseline" in c["text"]
    # without 'band' no baseline dominates, and the trade-offs on the front are named
    oos.pop("band")
    c = chosen_point(("risk", "cost"), DIRS, {"risk": 10.0, "cost": 5.0}, oos)
    assert not c["dominated_by"] and CHOSEN in c["on_front"]
    assert "no baseline dominates" in c["text"] and "never, tick also lie on the front" in c["text"]


def _assessed(baselines=BASELINES):
    return assess_study(
        ("risk", "cost"),
        DIRS,
        {"risk": 9.5, "cost": 5.0},
        {"risk": 10.0, "cost": 5.0},
        baselines,
        None,
        0,
        front_size=7,
    )


def test_the_verdict_says_which_rule_picked_the_point_and_to_prefer_a_dominating_baseline():
    res = _assessed()
    v = res["verdict"]
    assert v["chosen_by"] == KNEE_RULE and v["prefer"] == "band"
    assert "'band' dominates the chosen point" in v["text"] and v["text"].endswith("prefer the baseline.")
    lines = summary_lines(res)
    at = next(i for i, line in enumerate(lines) if line.startswith("Chosen point of the 7 on the front"))
    assert "picked by the knee: the front trial nearest" in lines[at]
    table = {line.split()[0]: line for line in lines[at + 2 : at + 7]}
    rows = {k: line.split() for k, line in table.items()}
    assert rows["band"][1:4] == ["9", "4", "dominates"]
    assert rows["tick"][1:3] == ["1", "60"] and table["tick"].endswith("trade-off, on the front")
    assert rows["worse"][1:] == ["12", "6", "dominated", "by", "it"]
    assert rows["chosen"][2:4] == ["10", "5"] and rows["chosen"][-1] == "dominated"
    assert lines.index(next(x for x in lines if x.startswith("Verdict: "))) > at
    assert verdict_line(v) == (
        "No baseline has paired per-sample values for every metric; no verdict; prefer the baseline band"
    )  # the parent run's tag
    no_band = {k: v for k, v in BASELINES.items() if k != "band"}
    assert "prefer" not in _assessed(no_band)["verdict"]
    # one metric: no chosen point, the verdict is the metric's own
    single = assess_study(("risk",), ("minimize",), {"risk": 9.5}, {"risk": 10.0}, BASELINES, None, 0)
    assert "chosen_point" not in single and "chosen_by" not in single["verdict"]


def test_the_export_keeps_the_rule_and_the_table():
    res = _assessed()
    doc = build_export({"x": 1.0}, {"study": "s"}, {}, {}, {}, [{"trial": 3}], res)
    c = doc["performance"]["chosen_point"]
    assert c["rule"] == KNEE_RULE and c["dominated_by"] == ["band"]
    assert c["out_of_sample"]["never"] == {"risk": 30.0, "cost": 0.0}
    assert doc["performance"]["verdict"]["chosen_by"] == KNEE_RULE


def _trial(n: int, values: tuple[float, float]) -> SimpleNamespace:
    return SimpleNamespace(number=n, state=SimpleNamespace(name="COMPLETE"), values=list(values))


def test_the_front_figure_draws_the_baselines_and_the_out_of_sample_panel(tmp_path: Path):
    trials = [_trial(i, v) for i, v in enumerate([*FRONT, (5.0, 5.0)])]
    front = trials[:4]
    settings = SimpleNamespace(multi_objective=True, metrics=("risk", "cost"), directions=DIRS)
    res = _assessed()
    path = figures.pareto_figure(trials, front, trials[2], settings, res, BASELINES, tmp_path)
    assert path == tmp_path / "pareto_front.png"
    both = matplotlib.image.imread(path).shape[1]
    one = figures.pareto_front(trials, front, ("risk", "cost"), DIRS, tmp_path / "one.png")
    assert both > 1.5 * matplotlib.image.imread(one).shape[1]  # a second, out-of-sample panel
    single = SimpleNamespace(multi_objective=False, metrics=("risk",), directions=("minimize",))
    assert figures.pareto_figure(trials, [], trials[0], single, res, BASELINES, tmp_path / "x") is None


def test_a_figure_that_cannot_be_drawn_is_one_warning_line_not_a_failed_study(tmp_path: Path, capsys):
    trials = [_trial(i, v) for i, v in enumerate(FRONT)]
    settings = SimpleNamespace(multi_objective=True, metrics=("risk", "cost"), directions=DIRS)
    gone = tmp_path / "gone"  # no such folder: saving fails
    assert figures.pareto_figure(trials, trials, trials[2], settings, {}, BASELINES, gone) is None
    assert figures.history_figure(trials, 2, settings, {}, BASELINES, gone) is None
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("hedgeopt: warning: the Pareto front was not drawn: FileNotFoundError: ")
    assert lines[1].startswith(
        "hedgeopt: warning: the optimisation history was not drawn: FileNotFoundError: "
    )
    assert not gone.exists()


@pytest.mark.parametrize("missing", ["risk", "cost"])
def test_no_table_without_every_out_of_sample_figure_of_the_chosen_point(missing):
    oos = {"risk": 10.0, "cost": 5.0}
    oos.pop(missing)
    res = assess_study(("risk", "cost"), DIRS, {}, oos, BASELINES, None, 0)
    assert "chosen_point" not in res and "chosen_by" not in res["verdict"]


def test_a_front_of_one_trial_is_said_so():
    from hedgeopt.results.pareto import chosen_lines

    c = chosen_point(("risk", "cost"), DIRS, {"risk": 10.0, "cost": 5.0}, {}, front_size=1)
    assert chosen_lines(c)[0].startswith("Chosen point (the only trial on the front), picked by the knee")
