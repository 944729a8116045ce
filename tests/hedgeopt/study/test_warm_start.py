"""Warm start: an overlay's params become a new study's trial 0, once."""

from __future__ import annotations

from pathlib import Path

import optuna

from hedgeopt.config.compose import compose
from hedgeopt.config.settings import validate
from hedgeopt.storages.opening import open_storage
from hedgeopt.study.warm_start import enqueue_warm_start, warm_start_params

EXPORT = {"toy.x": 0.75, "toy.n": 4, "toy.kind": "b", "toy.bonus": True}


def _study(in_empty_dir: Path, *overrides: str):
    settings, space = validate(compose(["+study=toy", *overrides]))
    study = optuna.create_study(
        study_name=settings.study_name, storage=open_storage(settings.storage), direction="minimize"
    )
    return study, settings, space


def _run_one(study: optuna.Study, space) -> None:
    study.optimize(lambda t: sum(float(v) for v in space.suggest(t).values() if not isinstance(v, str)), 1)


def test_trial_0_replays_the_overlay_and_a_resumed_study_enqueues_nothing(in_empty_dir: Path):
    study, settings, space = _study(in_empty_dir)
    lines: list[str] = []
    assert enqueue_warm_start(study, settings, space, {**EXPORT, "toy.sleep": 0.0}, lines.append) == EXPORT
    _run_one(study, space)
    assert study.trials[0].params == EXPORT
    assert lines == [
        "hedgeopt: warm start: trial 0 replays the overlay's best params "
        "(toy.x=0.75, toy.n=4, toy.kind='b', toy.bonus=True)"
    ]
    assert enqueue_warm_start(study, settings, space, EXPORT, lines.append) is None  # resumed
    assert len(study.trials) == 1 and len(lines) == 1


def test_a_value_outside_the_new_space_is_not_replayed_and_said(in_empty_dir: Path):
    study, settings, space = _study(in_empty_dir, "search_space={toy.x:{low:-2.0,high:0.5}}")
    lines: list[str] = []
    enqueued = enqueue_warm_start(study, settings, space, EXPORT, lines.append)
    assert enqueued == {"toy.n": 4, "toy.kind": "b", "toy.bonus": True}
    assert study.trials[0].system_attrs["fixed_params"] == enqueued
    assert lines[0].endswith("; not replayed: toy.x=0.75 is outside [-2.0, 0.5] (sampled instead)")


def test_nothing_fits_nothing_is_enqueued(in_empty_dir: Path):
    _, _, space = _study(in_empty_dir)
    assert warm_start_params({"toy.n": 40, "toy.kind": "c"}, space) == (
        {},
        ["toy.n=40 is outside [1, 10]", "toy.kind='c' is outside choices ['a', 'b']"],
    )
    assert warm_start_params({"toy.n": 4.0}, space)[0] == {"toy.n": 4}  # as the distribution gives it
