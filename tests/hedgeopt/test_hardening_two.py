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
