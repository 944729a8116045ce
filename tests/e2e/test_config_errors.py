"""Every kind of config error exits 2 with one ``hedgeopt: error:`` line and writes nothing."""

from __future__ import annotations

import os

import pytest

from hedgeopt.cli.command import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["+study=nope"], "unknown study 'nope'; valid: deep_hedge, "),
        (["+study=toy", "n_trials=0"], "n_trials must be >= 1"),
        (["+study=toy", "n_trials=many"], "n_trials must be an integer"),
        (["+study=toy", "n_jobs=0"], "n_jobs must be a positive number"),
        (["+study=toy", "timeout=-5"], "timeout must be a positive number"),
        (["+study=toy", "seed=-1"], "seed must be >= 0"),
        (["+study=toy", "unknown_key=1"], "unknown key 'unknown_key'; valid keys at the top level: "),
        (["+study=toy", "sampler=annealing"], "unknown sampler 'annealing'; valid: cmaes, gp, grid"),
        (["+study=toy", "directions=[up]"], "directions: 'up' is not minimize or maximize"),
        (["+study=toy", "metrics=[loss,cost]"], "directions must list one direction per metric"),
        (["+study=toy", "objective._target_=nowhere.Objective"], "objective._target_: cannot import"),
        (["+study=toy", "objective._target_=collections.OrderedDict"], "is not a hedgeopt Objective"),
        (["+study=toy", "search_space={toy.x:{low:9}}"], "search_space.toy.x: low (9) must be below high"),
        (
            ["+study=toy", "+search_space={toy.y:{type:float,low:0,high:1}}"],
            "search_space.toy.y: not a config path",
        ),
        (["+study=toy", "storage=ftp://host/db"], "unsupported URL scheme"),
        (["+study=toy", "mlflow.tracking_uri=mlruns"], "mlflow.tracking_uri must be a URI"),
        (["+study=toy", "+replay=missing.yaml"], "replay: no such file"),
        (["+study=toy_pareto", "pruner=median"], "do not support multi-objective"),
        (["+study=toy", "sampler=grid", "search_space={toy.x:{grid:null}}"], "sampler=grid needs a grid"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["n_trials=3"], "no study given"),
    ],
)
def test_config_error_exits_2_with_one_line_and_writes_nothing(in_empty_dir, capsys, args, message):
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("hedgeopt: error: ") and message in err[-1]
    assert [line for line in err if line.startswith("hedgeopt: error")] == [err[-1]]
    assert os.listdir(in_empty_dir) == []


def test_without_a_study_lists_the_studies_and_exits_2(in_empty_dir, capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "toy" in err and "delta_hedge" in err
    assert os.listdir(in_empty_dir) == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("toy:\n  x: 0.5\n  _target_: os.system\n", "replay never instantiates code"),
        ("toy:\n  x: 99.0\n", "outside the search space"),
        ("toy:\n  y: 1.0\n", "toy.y: not a parameter"),
        ("toy: [unclosed\n", "is not valid YAML"),
        ("toy:\n  x: !!python/object/apply:os.system ['echo hi']\n", "is not valid YAML"),
    ],
)
def test_bad_replay_file_exits_2_and_writes_nothing(in_empty_dir, capsys, content, message):
    bad = in_empty_dir / "bad.yaml"
    bad.write_text(content)
    assert main(["+study=toy", f"+replay={bad}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hedgeopt: error: replay") and message in err[-1]
    assert os.listdir(in_empty_dir) == ["bad.yaml"]
