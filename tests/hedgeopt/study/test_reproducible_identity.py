"""Study identity (fingerprint) and the deterministic mode's pieces, on in-memory Optuna studies."""

from __future__ import annotations

import hashlib

import optuna
import pytest
from optuna.trial import TrialState

from hedgeopt.config.settings import _deterministic as deterministic_mode
from hedgeopt.config.settings import _resume as resume_mode
from hedgeopt.errors import ConfigError
from hedgeopt.execution.deterministic import EarlierBatches
from hedgeopt.names import ATTR_FINGERPRINT
from hedgeopt.study.fingerprint import changes, check, fingerprint, identity

CFG = {
    "study_name": "s",
    "n_trials": 10,
    "n_jobs": 2,
    "seed": 3,
    "storage": None,
    "mlflow": {"tracking_uri": "sqlite:///x.db"},
    "sampler": {"_target_": "optuna.samplers.TPESampler"},
    "pruner": {"_target_": "optuna.pruners.NopPruner"},
    "deterministic": False,
    "resume": "auto",
    "objective": {"_target_": "m.O"},
    "metrics": ["loss"],
    "directions": ["minimize"],
    "search_space": {"hedge.ratio": {"type": "float", "low": 0.5, "high": 1.0}},
    "hedge": {"ratio": 1.0},
    "data": {"file": "prices.csv"},
}


def test_identity_holds_what_defines_the_study_and_digests_data_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prices.csv").write_text("a,b\n1,2\n")
    ident = identity(CFG)
    assert ident["search_space.hedge.ratio.high"] == 1.0 and ident["seed"] == 3
    assert ident["objective._target_"] == "m.O" and ident["hedge.ratio"] == 1.0
    assert ident["data:data.file"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()[:16]
    for knob in (
        "n_trials",
        "n_jobs",
        "storage",
        "sampler._target_",
        "mlflow.tracking_uri",
        "deterministic",
        "resume",
        "study_name",
    ):
        assert knob not in ident
    same = fingerprint({**CFG, "n_trials": 50, "n_jobs": 8, "sampler": {"_target_": "R"}})
    assert same["digest"] == fingerprint(CFG)["digest"]
    (tmp_path / "prices.csv").write_text("a,b\n1,3\n")  # new data, same file name
    assert changes(ident, identity(CFG)) == ["data:data.file contents changed"]


def test_changes_name_each_key():
    assert changes({"a": 1.0, "b": [1, 2], "c": "x"}, {"a": 1.2, "b": [1, 2], "d": True}) == [
        "a changed 1.0 -> 1.2",
        "c removed (was x)",
        "d added (= true)",
    ]


def test_check_records_then_refuses_a_changed_study_unless_forced():
    study = optuna.create_study()
    assert check(study, CFG, "s", "memory") == []
    assert study.user_attrs[ATTR_FINGERPRINT] == fingerprint(CFG)["digest"]
    study.optimize(lambda t: 1.0, n_trials=1)  # a completed trial: the study now means something
    assert check(study, {**CFG, "n_trials": 99}, "s", "memory") == []
    narrowed = {**CFG, "search_space": {"hedge.ratio": {"type": "float", "low": 0.5, "high": 1.2}}}
    with pytest.raises(ConfigError) as err:
        check(study, narrowed, "s", "memory")
    assert "search_space.hedge.ratio.high changed 1.0 -> 1.2" in str(err.value)
    assert "study_name=" in str(err.value) and "resume=force" in str(err.value)
    notes = check(study, narrowed, "s", "memory", "force")
    assert len(notes) == 1 and "1.0 -> 1.2" in notes[0]
    assert check(study, narrowed, "s", "memory") == []  # the forced definition is now the study's
    with pytest.raises(ConfigError, match="resume must be auto or force"):
        resume_mode({**narrowed, "resume": "yes"})


def test_a_study_without_a_completed_trial_is_redefined_with_a_note():
    study = optuna.create_study()
    assert check(study, CFG, "s", "memory") == []

    def fails(trial):
        raise RuntimeError("set-up failed")

    study.optimize(fails, n_trials=1, catch=(RuntimeError,))  # one FAIL trial, nothing learnt
    corrected = {**CFG, "data": {"file": "mine.csv"}}
    notes = check(study, corrected, "s", "memory")
    assert len(notes) == 1 and "no completed trial" in notes[0] and "data.file changed" in notes[0]
    assert study.user_attrs[ATTR_FINGERPRINT] == fingerprint(corrected)["digest"]
    study.optimize(lambda t: 1.0, n_trials=1)
    with pytest.raises(ConfigError, match="defined differently"):
        check(study, CFG, "s", "memory")


def test_deterministic_key_and_the_pruners_it_accepts():
    assert deterministic_mode(CFG) is False
    assert deterministic_mode({**CFG, "deterministic": True}) is True
    median = {**CFG, "deterministic": True, "pruner": {"_target_": "optuna.pruners.MedianPruner"}}
    assert deterministic_mode(median) is True
    with pytest.raises(ConfigError, match="pruner=none or pruner=median"):
        deterministic_mode(
            {**CFG, "deterministic": True, "pruner": {"_target_": "optuna.pruners.HyperbandPruner"}}
        )
    with pytest.raises(ConfigError, match="true or false"):
        deterministic_mode({**CFG, "deterministic": "yes"})


def test_the_pruner_sees_only_earlier_batches():
    """A median pruner prunes against trials 0-3; a finished trial of the running batch (4)
    that would change the median is invisible to it."""
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    for v in (1.0, 2.0, 3.0, 4.0, 0.1):
        t = study.ask()
        t.report(v, 0)
        study.tell(t, v)
    current = study.ask()  # trial 5, in the batch that started at trial 4
    current.report(2.2, 0)
    frozen = study._storage.get_trial(current._trial_id)
    whole = study.pruner.prune(study, frozen)
    view = EarlierBatches(study, 4)
    assert [t.number for t in view.get_trials(states=(TrialState.COMPLETE,))] == [0, 1, 2, 3]
    assert bool(whole) is True  # median of 1, 2, 3, 4, 0.1 is 2.0 < 2.2
    assert bool(study.pruner.prune(view, frozen)) is False  # median of 1, 2, 3, 4 is 2.5 > 2.2
