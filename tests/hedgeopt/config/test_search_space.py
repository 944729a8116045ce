"""Search-space parsing, validation messages, sampling and the params -> config mapping."""

from __future__ import annotations

import optuna
import pytest

from hedgeopt.config.search_space import SearchSpace, SearchSpaceError
from hedgeopt.protocol import apply_params, get_path
from hedgeopt.tracking.tracker import flatten, nest

CONFIG = {
    "hedge": {"ratio": 1.0, "band": 0.1, "cadence": 60, "mode": "a", "extra": False},
    "model": {"lr": 1e-3},
}


def space(spec, config=CONFIG):
    return SearchSpace.from_config(spec, config)


def test_parses_every_type_and_keeps_bounds():
    s = space(
        {
            "hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0, "step": 0.05},
            "model.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "hedge.cadence": {"type": "int", "low": 30, "high": 900, "step": 30},
            "hedge.mode": {"type": "categorical", "choices": ["a", "b"]},
        }
    )
    assert [p.kind for p in s.params] == ["float", "float", "int", "categorical"]
    assert s.by_name["model.lr"].log and s.by_name["hedge.cadence"].step == 30
    assert s.by_name["hedge.ratio"].contains(0.9) and not s.by_name["hedge.ratio"].contains(1.01)
    assert not s.by_name["hedge.cadence"].contains(30.5)
    assert s.by_name["hedge.mode"].contains("b") and not s.by_name["hedge.mode"].contains("c")


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"hedge.ratio": {"type": "float", "low": 1.0, "high": 0.8}},
            "search_space.hedge.ratio: low (1.0) must be below high (0.8)",
        ),
        ({"hedge.ratio": {"type": "float", "low": 1.0, "high": 1.0}}, "must be below high"),
        (
            {"model.lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}},
            "search_space.model.lr: log scale needs low > 0",
        ),
        (
            {"hedge.mode": {"type": "categorical", "choices": []}},
            "search_space.hedge.mode: choices must be a non-empty list",
        ),
        (
            {"hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0, "grid": [0.5, 1.5]}},
            "search_space.hedge.ratio: no grid value [0.5, 1.5] lies in",
        ),
        (
            {"hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0, "hgih": 2}},
            "search_space.hedge.ratio: unknown field 'hgih'",
        ),
        (
            {"hedge.nope": {"type": "float", "low": 0.8, "high": 1.0}},
            "search_space.hedge.nope: not a config path",
        ),
        (
            {"hedge.ratio": {"type": "normal", "low": 0.8, "high": 1.0}},
            "type must be float, int or categorical",
        ),
        ({"hedge.cadence": {"type": "int", "low": 1.5, "high": 10}}, "low must be an integer"),
        (
            {
                "hedge.extra": {
                    "type": "categorical",
                    "choices": [True, False],
                    "when": {"hedge.ratio": [1.0]},
                },
                "hedge.ratio": {"type": "float", "low": 0.5, "high": 1.0},
            },
            "when needs a categorical parameter",
        ),
        (
            {
                "hedge.extra": {
                    "type": "categorical",
                    "choices": [True, False],
                    "when": {"hedge.mode": ["z"]},
                },
                "hedge.mode": {"type": "categorical", "choices": ["a", "b"]},
            },
            "when value 'z' is not a choice",
        ),
        ({"n_trials": {"type": "int", "low": 1, "high": 5}}, "framework keys cannot be tuned"),
        ({}, "search_space is empty"),
    ],
)
def test_invalid_specs_name_the_key(spec, message):
    config = dict(CONFIG, n_trials=3)
    with pytest.raises(SearchSpaceError) as err:
        space(spec, config)
    assert message in str(err.value)


def test_conditional_parameter_follows_its_parent_and_is_sampled_only_when_active():
    s = space(
        {
            "hedge.extra": {"type": "categorical", "choices": [True, False], "when": {"hedge.mode": ["b"]}},
            "hedge.mode": {"type": "categorical", "choices": ["a", "b"]},
        }
    )
    assert [p.name for p in s.params] == ["hedge.mode", "hedge.extra"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = {"a": 0, "b": 0}
    for _ in range(40):
        trial = study.ask()
        values = s.suggest(trial)
        seen[values["hedge.mode"]] += 1
        assert ("hedge.extra" in values) == (values["hedge.mode"] == "b")
        study.tell(trial, 0.0)
    assert seen["a"] and seen["b"]


def test_suggested_values_respect_bounds_log_and_step():
    s = space(
        {
            "hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0, "step": 0.05},
            "model.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "hedge.cadence": {"type": "int", "low": 30, "high": 900, "step": 30},
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    lrs = []
    for _ in range(200):
        t = study.ask()
        v = s.suggest(t)
        assert (
            0.8 <= v["hedge.ratio"] <= 1.0
            and abs(v["hedge.ratio"] / 0.05 - round(v["hedge.ratio"] / 0.05)) < 1e-9
        )
        assert v["hedge.cadence"] % 30 == 0 and 30 <= v["hedge.cadence"] <= 900
        lrs.append(v["model.lr"])
        study.tell(t, 0.0)
    # log-uniform: about half of the draws fall below the geometric midpoint 1e-3
    below = sum(lr < 1e-3 for lr in lrs) / len(lrs)
    assert 0.38 < below < 0.62


def test_grid_sampler_enumerates_the_grid_exactly():
    s = space(
        {
            "hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0, "grid": [0.8, 0.9, 1.0]},
            "hedge.mode": {"type": "categorical", "choices": ["a", "b"], "grid": ["a", "b"]},
        }
    )
    assert s.grid_size() == 6
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(s.grid(), seed=0))
    seen = []

    def record(trial):
        v = s.suggest(trial)
        seen.append((v["hedge.ratio"], v["hedge.mode"]))
        return 0.0

    study.optimize(record, n_trials=6)
    assert len(seen) == 6 and set(seen) == {(r, m) for r in (0.8, 0.9, 1.0) for m in ("a", "b")}


def test_grid_requires_a_list_for_every_parameter():
    s = space({"hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0}})
    with pytest.raises(SearchSpaceError, match="sampler=grid needs a grid"):
        s.grid()


def test_params_map_onto_config_paths():
    params = {"hedge.ratio": 0.9, "model.lr": 0.005}
    trial_cfg = apply_params(CONFIG, params)
    assert get_path(trial_cfg, "hedge.ratio") == 0.9 and get_path(trial_cfg, "model.lr") == 0.005
    assert get_path(trial_cfg, "hedge.band") == 0.1
    assert CONFIG["hedge"]["ratio"] == 1.0  # the base config is not mutated
    assert nest(params) == {"hedge": {"ratio": 0.9}, "model": {"lr": 0.005}}
    assert flatten(nest(params)) == params


def test_check_values_rejects_unknown_keys_and_out_of_range_values():
    s = space({"hedge.ratio": {"type": "float", "low": 0.8, "high": 1.0}})
    s.check_values({"hedge.ratio": 0.85})
    with pytest.raises(SearchSpaceError, match="hedge.band: not a parameter"):
        s.check_values({"hedge.band": 0.2})
    with pytest.raises(SearchSpaceError, match="outside the search space"):
        s.check_values({"hedge.ratio": 2.0})


MODE = {"type": "categorical", "choices": ["a", "b"]}
BAND = {"type": "float", "low": 0.05, "high": 0.5, "when": {"hedge.mode": ["a"]}}
RATIO = {"type": "float", "low": 0.7, "high": 1.0}


def test_a_plain_value_pins_a_key_and_null_drops_it_each_with_a_note():
    s = space({"hedge.ratio": 0.9, "hedge.cadence": None, "hedge.mode": MODE})
    assert [p.name for p in s.params] == ["hedge.mode"]
    assert s.notes == [
        "hedge.ratio is pinned at 0.9: not searched, every trial uses it",
        "search_space.hedge.cadence: dropped by null; trials keep its config value",
    ]


def test_a_condition_on_a_pinned_key_is_settled_once():
    held = space({"hedge.mode": "a", "hedge.band": BAND, "hedge.ratio": RATIO})
    assert held.by_name["hedge.band"].when == {}  # always searched: mode is a
    never = space({"hedge.mode": "b", "hedge.band": BAND, "hedge.ratio": RATIO})
    assert "hedge.band" not in never and [p.name for p in never.params] == ["hedge.ratio"]
    assert "search_space.hedge.band: never searched (hedge.mode is fixed outside its when:)" in never.notes
    dropped = space({"hedge.mode": None, "hedge.band": BAND, "hedge.ratio": RATIO})  # config: a
    assert dropped.by_name["hedge.band"].when == {}


def test_pinning_every_entry_or_a_missing_key_is_refused():
    with pytest.raises(SearchSpaceError, match="no parameter left to search"):
        space({"hedge.ratio": 0.9, "hedge.mode": None})
    with pytest.raises(SearchSpaceError, match="hedge.nope: not a config path"):
        space({"hedge.nope": 1, "hedge.ratio": RATIO})
