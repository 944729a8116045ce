"""The objective protocol as the framework keeps it: an objective gets its domain config and a
StudyContext, never a framework key; a report names its metric, the run logs it under that name
and the pruner judges the first metric reported; plots draw with the Agg backend selected."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SUPPORT, TEST_CONF

from hedgeopt.config.compose import compose
from hedgeopt.config.settings import validate
from hedgeopt.errors import ConfigError
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.execution.trial import TrialReporter
from hedgeopt.framework_keys import FRAMEWORK_KEYS
from hedgeopt.protocol import StudyContext
from hedgeopt.storages.trial_record import RecordFiles, step_metrics

NO_FILES = RecordFiles(".", "study")  # these trials keep their steps in attrs


def _attrs(attrs: dict) -> SimpleNamespace:
    return SimpleNamespace(number=0, user_attrs=attrs)


@pytest.fixture
def toy_cfg(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", str(TEST_CONF))
    monkeypatch.syspath_prepend(str(SUPPORT))
    return compose(["+study=toy", "seed=5"])


def test_an_objective_gets_its_domain_config_and_the_study_context(toy_cfg):
    objective = build_objective(toy_cfg)
    assert not set(objective.config) & FRAMEWORK_KEYS
    assert objective.config == {"toy": toy_cfg["toy"]}
    assert objective.context == StudyContext(seed=5, metrics=("loss",), directions=("minimize",))


def test_an_objective_refuses_a_config_holding_framework_keys(toy_cfg):
    from toy_objective import ToyObjective

    with pytest.raises(ValueError, match=r"framework keys \['metrics', 'search_space', 'seed'\]"):
        ToyObjective({"toy": toy_cfg["toy"], **{k: toy_cfg[k] for k in ("seed", "metrics", "search_space")}})


def test_objectives_are_built_with_the_agg_backend_selected(toy_cfg, monkeypatch):
    import matplotlib

    monkeypatch.setenv("MPLBACKEND", "svg")
    matplotlib.use("svg")
    build_objective(toy_cfg)
    assert matplotlib.get_backend().lower() == "agg"


def test_selecting_the_agg_backend_imports_no_matplotlib():
    import os
    import subprocess
    import sys

    code = (
        "import os, sys; import hedgeopt.execution.worker, hedgeopt.execution.objective_builder; "
        "from hedgeopt.results.figures import use_headless_figures; use_headless_figures(); "
        "print('matplotlib' in sys.modules, os.environ['MPLBACKEND'])"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "Agg"]


class _Trial:
    """What TrialReporter needs of an Optuna trial; records the values the pruner would see."""

    def __init__(self) -> None:
        self.reported: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return False


def test_the_pruner_sees_the_first_reported_metric_and_the_run_logs_every_one(tmp_path: Path):
    trial = _Trial()
    reporter = TrialReporter(trial, tmp_path, single_objective=True)
    for metric, value, step in [("val", 2.0, 0), ("train", 9.0, 0), ("val", 1.0, 1), ("val", math.nan, 2)]:
        reporter.report(metric, value, step)
    assert trial.reported == [(2.0, 0), (1.0, 1)]  # "val" only, and a NaN is not reported
    assert reporter.values[:3] == [("val", 0, 2.0), ("train", 0, 9.0), ("val", 1, 1.0)]
    logged = step_metrics(_attrs({"hedgeopt.steps": reporter.values[:3]}), "score", NO_FILES)
    assert logged == [("val_by_step", 2.0, 0), ("train_by_step", 9.0, 0), ("val_by_step", 1.0, 1)]

    pareto = _Trial()
    TrialReporter(pareto, tmp_path, single_objective=False).report("val", 2.0, 0)
    assert pareto.reported == []  # Optuna's pruners are single-objective

    unjudged = _Trial()  # no pruner: Optuna is not given the values (its journal stays small)
    reporter = TrialReporter(unjudged, tmp_path, single_objective=True, pruner_judges=False)
    reporter.report("val", 2.0, 0)
    assert (unjudged.reported, reporter.values) == ([], [("val", 0, 2.0)])


def test_intermediate_values_of_an_older_journal_keep_their_first_metric_name():
    assert step_metrics(_attrs({"hedgeopt.steps": [[0, 1.5], [1, 0.5]]}), "loss", NO_FILES) == [
        ("loss_by_step", 1.5, 0),
        ("loss_by_step", 0.5, 1),
    ]
    assert step_metrics(_attrs({}), "loss", NO_FILES) == []


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "search_space={spread.formation_window:{high:300}}",
            "search_space.spread.formation_window reaches 300, past data.warmup = 250",
        ),
        ("data.warmup=null", "data.warmup must be a number"),
    ],
)
def test_a_formation_window_longer_than_the_warmup_is_refused_before_any_trial(
    override, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        validate(compose(["+study=spread_hedge", override]))
    wider = ["data.warmup=300", "search_space={spread.formation_window:{high:300}}"]
    validate(compose(["+study=spread_hedge", *wider]))  # a longer warm-up admits the longer windows
