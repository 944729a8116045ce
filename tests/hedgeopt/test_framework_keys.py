"""The framework keys are listed once and agree with the shipped defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hedgeopt.config.search_space import SearchSpace, SearchSpaceError
from hedgeopt.execution.objective_builder import objective_key
from hedgeopt.framework_keys import (
    FRAMEWORK_KEYS,
    GROUP_KEYS,
    NOT_IDENTITY,
    SETTINGS_KEYS,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_default_top_level_key_is_a_framework_key():
    defaults = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())
    keys = {k for k in defaults if k not in ("defaults", "hydra")} | {"sampler", "pruner"}
    assert keys <= FRAMEWORK_KEYS, keys - FRAMEWORK_KEYS


def test_the_partial_lists_are_framework_keys():
    assert not set(SETTINGS_KEYS) & set(GROUP_KEYS)
    assert len(SETTINGS_KEYS) == len(set(SETTINGS_KEYS))
    assert NOT_IDENTITY <= FRAMEWORK_KEYS


def test_objective_key_changes_only_with_what_the_objective_is_built_from():
    base = {"study_name": "s", "seed": 0, "n_trials": 5, "n_jobs": 2, "toy": {"a": 1}}
    base["objective"] = {"_target_": "toy_objective.ToyObjective"}
    same = {**base, "n_trials": 50, "n_jobs": 1, "progress": False, "study_name": "t"}
    assert objective_key(base) == objective_key({**same, "search_space": {"toy.a": {"type": "int"}}})
    assert objective_key(base) != objective_key({**base, "seed": 1})
    assert objective_key(base) != objective_key({**base, "metrics": ["loss"]})
    assert objective_key(base) != objective_key({**base, "toy": {"a": 2}})
    assert objective_key(base) != objective_key({**base, "objective": {"_target_": "other.Objective"}})


@pytest.mark.parametrize("key", sorted(FRAMEWORK_KEYS))
def test_no_framework_key_can_be_tuned(key: str):
    config = {key: 1, "toy": {"a": 1.0}}
    with pytest.raises(SearchSpaceError, match="framework keys cannot be tuned"):
        SearchSpace.from_config({key: {"type": "float", "low": 0.0, "high": 1.0}}, config)
