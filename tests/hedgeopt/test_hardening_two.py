"""Hardening, round two (issue 27): each case of docs/hardening.md, at its cause."""

from __future__ import annotations

import os

import pytest

from hedgeopt.cli import main


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("hedgeopt: error")]
    assert errors == [err[-1]], err
    assert not any("Traceback" in line for line in err), err
    return err[-1]


# --------------------------------------------------------------------------- A: study_name


@pytest.mark.parametrize(
    "name, message",
    [
        ('"nl\n"', "study_name must be a name of letters"),
        ("a" * 300, "study_name must be at most 100 characters"),
    ],
)
def test_a_study_name_with_a_newline_or_too_long_is_refused_before_anything_is_written(
    in_empty_dir, capsys, name, message
):
    assert main(["+study=toy", f"study_name={name}", "n_trials=1", "n_jobs=1"]) == 2
    assert message in _one_error_line(capsys)
    assert os.listdir(in_empty_dir) == []


def test_the_longest_study_name_allowed_is_accepted(in_empty_dir):
    from hedgeopt.config import compose
    from hedgeopt.settings import MAX_NAME_LENGTH, validate

    settings, _ = validate(compose(["+study=toy", f"study_name={'b' * MAX_NAME_LENGTH}"]))
    assert len(settings.study_name) == MAX_NAME_LENGTH


# --------------------------------------------------------------------------- B: search-space width


@pytest.mark.parametrize(
    "space, message",
    [
        (["search_space={toy.x:{low:-1e308,high:1e308}}"], "wider than a float can hold"),
        (["search_space={toy.n:{low:1,high:" + "9" * 400 + "}}"], "high must be a finite number"),
    ],
)
def test_a_search_range_wider_than_a_float_is_refused(in_empty_dir, capsys, space, message):
    assert main(["+study=toy", *space, "n_trials=1", "n_jobs=1"]) == 2
    line = _one_error_line(capsys)
    assert message in line and "search_space." in line
    assert os.listdir(in_empty_dir) == []


def test_a_step_too_small_for_its_range_is_refused():
    from hedgeopt.search_space import SearchSpace, SearchSpaceError

    with pytest.raises(SearchSpaceError, match="step 1e-300 is too small"):
        SearchSpace.from_config(
            {"toy.x": {"type": "float", "low": 0.0, "high": 1e300, "step": 1e-300}}, {"toy": {"x": 0}}
        )


def test_the_widest_range_a_float_holds_still_samples(in_empty_dir):
    import optuna

    from hedgeopt.search_space import SearchSpace

    space = SearchSpace.from_config(
        {"toy.x": {"type": "float", "low": -8e307, "high": 8e307}}, {"toy": {"x": 0}}
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: abs(space.suggest(t)["toy.x"]) / 1e307, n_trials=3)
    assert len(study.trials) == 3


# --------------------------------------------------------------------------- C: --cfg job and +overlay=


@pytest.mark.parametrize("which", ["job", "all"])
def test_cfg_job_applies_an_overlay_as_a_run_would(in_empty_dir, capsys, which):
    import yaml

    (in_empty_dir / "ov2.yaml").write_text("toy:\n  x: 1.75\n  kind: b\n")
    assert main(["+study=toy", "+overlay=ov2.yaml", "toy.kind=a", "--cfg", which]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert "overlay" not in shown and "hedgeopt_overlay" not in shown
    assert shown["toy"]["x"] == 1.75  # the overlay's value
    assert shown["toy"]["kind"] == "a"  # the command line wins, as in a run


def test_cfg_job_refuses_an_overlay_a_run_would_refuse(in_empty_dir, capsys):
    (in_empty_dir / "typo.yaml").write_text("toy:\n  xx: 1.0\n")
    assert main(["+study=toy", "+overlay=typo.yaml", "--cfg", "job"]) == 2
    assert "sets toy.xx, which is not a key" in _one_error_line(capsys)
