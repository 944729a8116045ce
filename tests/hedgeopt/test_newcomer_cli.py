"""Issue 28: Hydra habits answered in one line, a complete --help, line-based progress, sampler=gp."""

from __future__ import annotations

import io

import pytest

from hedgeopt import console
from hedgeopt.cli.usage import USAGE, parse
from hedgeopt.config.compose import compose_config, config_groups
from hedgeopt.errors import ConfigError


@pytest.mark.parametrize("flag", ["-m", "--multirun"])
def test_multirun_is_refused_naming_the_hedgeopt_way(flag):
    with pytest.raises(ConfigError, match=r"search_space.*one study per setting"):
        parse([flag, "+study=delta_hedge"])


def test_a_comma_sweep_names_the_hedgeopt_way_not_add_multirun():
    with pytest.raises(ConfigError) as err:
        compose_config(["+study=delta_hedge", "n_trials=3,4"])
    assert "n_trials=3,4" in str(err.value) and "search_space" in str(err.value)
    assert "add --multirun" not in str(err.value)


@pytest.mark.parametrize("arg", ["hydra.run.dir=foo", "+hydra.job.chdir=true", "hydra.verbose=true"])
def test_hydra_keys_that_do_nothing_are_refused(arg):
    with pytest.raises(ConfigError, match=r"^hydra\.\S+: hedgeopt composes with Hydra's compose API"):
        parse(["+study=delta_hedge", arg])


def test_help_lists_overlay_replay_and_every_cfg_choice():
    for text in ("+overlay=PATH", "+replay=PATH", "--cfg job|hydra|all", "code_dir="):
        assert text in USAGE


def test_progress_is_one_line_per_count_when_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = console.progress_bar(total=6, initial=0, desc="toy")
    assert isinstance(bar, console.LineProgress)
    for n in (1, 1, 2, 6):
        bar.n = n
        bar.set_postfix_str(f"best={n} fail=0", refresh=False)
        bar.refresh()
    bar.close()
    assert "\r" not in err.getvalue()
    assert err.getvalue().splitlines() == [
        "toy: 1/6 trials best=1 fail=0",
        "toy: 2/6 trials best=2 fail=0",
        "toy: 6/6 trials best=6 fail=0",
    ]


def test_sampler_gp_is_offered_and_builds_a_seeded_gp_sampler():
    import optuna

    from hedgeopt.config.samplers import build_sampler

    assert "gp" in config_groups()["sampler"]
    from omegaconf import OmegaConf

    cfg = compose_config(["+study=delta_hedge", "sampler=gp"])
    sampler = build_sampler(OmegaConf.to_container(cfg.sampler), None, 3)
    assert isinstance(sampler, optuna.samplers.GPSampler)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1.0) ** 2, n_trials=16)
    assert study.best_value < 0.5  # the GP's trials after the 10 random ones close in on x = 1
