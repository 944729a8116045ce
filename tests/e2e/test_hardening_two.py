"""Hardening, round two (issue 27): each case of docs/hardening.md, at its cause."""

from __future__ import annotations

import os

import pytest
from conftest import one_error_line

from hedgeopt.cli import main

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
    assert message in one_error_line(capsys)
    assert os.listdir(in_empty_dir) == []


def test_the_longest_study_name_allowed_is_accepted(in_empty_dir):
    from hedgeopt.config.compose import compose
    from hedgeopt.config.settings import MAX_NAME_LENGTH, validate

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
    line = one_error_line(capsys)
    assert message in line and "search_space." in line
    assert os.listdir(in_empty_dir) == []


def test_a_step_too_small_for_its_range_is_refused():
    from hedgeopt.config.search_space import SearchSpace, SearchSpaceError

    with pytest.raises(SearchSpaceError, match="step 1e-300 is too small"):
        SearchSpace.from_config(
            {"toy.x": {"type": "float", "low": 0.0, "high": 1e300, "step": 1e-300}}, {"toy": {"x": 0}}
        )


def test_the_widest_range_a_float_holds_still_samples(in_empty_dir):
    import optuna

    from hedgeopt.config.search_space import SearchSpace

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
    assert "sets toy.xx, which is not a key" in one_error_line(capsys)


# --------------------------------------------------------------------------- D: one masking function


@pytest.mark.parametrize(
    "text, masked",
    [
        ("postgresql://alice:s3cr@t@db:5432/optuna", "postgresql://alice:***@db:5432/optuna"),
        (
            "postgresql://alice@db/optuna?password=hunter2&sslmode=require",
            "postgresql://alice@db/optuna?password=***&sslmode=require",
        ),
        ("mysql://u@h/db?charset=utf8&passwd=hunter2", "mysql://u@h/db?charset=utf8&passwd=***"),
        ("redis://r:6379/0?token=abc123#frag", "redis://r:6379/0?token=***#frag"),
        ("PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=*** psql -h db"),
        ("host=db user=u password=hunter2 dbname=o", "host=db user=u password=*** dbname=o"),
        ("max_tokens=5 tokens=3 PWD=/home/u", "max_tokens=5 tokens=3 PWD=/home/u"),
        ("sqlite:///mlruns/mlflow.db", "sqlite:///mlruns/mlflow.db"),
    ],
)
def test_mask_hides_every_secret_form(text, masked):
    from hedgeopt.masking import mask

    assert mask(text) == masked


def test_a_registered_query_password_is_masked_wherever_it_appears():
    from hedgeopt.masking import mask, register_secret

    register_secret("postgresql://u@db/o?password=Zq9%21pass")
    assert (
        mask("FATAL: password 'Zq9!pass' refused; raw Zq9%21pass") == "FATAL: password '***' refused; raw ***"
    )


QUERY_SECRET, TOKEN_SECRET = "hunter2xyzq", "tok3nxyzq"


def test_query_parameter_secrets_reach_no_output(tmp_path):
    """A whole run with secrets as URL query parameters: no byte of any file (names included),
    of stdout or of stderr shows them; the MLflow params and tags and the export show ***."""
    from tests.conftest import Store, run_cli

    storage = f'storage="sqlite:///mlruns/optuna.db?password={QUERY_SECRET}"'
    tracking = f'mlflow.tracking_uri="sqlite:///mlruns/mlflow.db?token={TOKEN_SECRET}"'
    proc = run_cli(tmp_path, "+study=toy", "n_trials=2", "n_jobs=1", storage, tracking)
    assert proc.returncode == 0, proc.stderr
    for secret in (QUERY_SECRET, TOKEN_SECRET):
        assert secret not in proc.stdout + proc.stderr
        for path in tmp_path.rglob("*"):
            assert secret not in str(path)
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    [parent] = Store(tmp_path).runs("toy", "study")
    assert parent.data.params["storage"] == "sqlite:///mlruns/optuna.db?password=***"
    assert "password=***" in parent.data.tags["hedgeopt.storage"]
    import yaml

    meta = yaml.safe_load((tmp_path / "exports" / "toy" / "best.yaml").read_text())["metadata"]
    assert meta["storage"].endswith("password=***") and meta["mlflow_tracking_uri"].endswith("token=***")
    assert "password=***" in proc.stderr  # the console says which storage, masked


@pytest.mark.parametrize("key", ["storage", "mlflow.tracking_uri"])
def test_preflight_error_lines_mask_query_passwords(in_empty_dir, capsys, key):
    url = f"postgresql://u@127.0.0.1:9/db?sslmode=disable&password={QUERY_SECRET}"
    assert main(["+study=toy", f'{key}="{url}"']) == 2
    line = one_error_line(capsys)
    assert QUERY_SECRET not in line and "password=***" in line
    assert os.listdir(in_empty_dir) == []


def test_cfg_job_masks_secrets(in_empty_dir, capsys):
    assert main(["+study=toy", f'storage="postgresql://u:{QUERY_SECRET}@db/o"', "--cfg", "job"]) == 0
    out = capsys.readouterr().out
    assert QUERY_SECRET not in out and "postgresql://u:***@db/o" in out


# --------------------------------------------------------------------------- E: overlays are values only


@pytest.mark.parametrize(
    "content, message",
    [
        ("toy:\n  kind: ${oc.env:OVERLAY_SECRET}\n", "sets toy.kind to an interpolation"),
        ("toy:\n  kind: ${toy.x}\n", "sets toy.kind to an interpolation"),
        ("toy:\n  kind: prefix-${oc.env:OVERLAY_SECRET,b}\n", "sets toy.kind to an interpolation"),
        ("storage: elsewhere.journal\n", "sets storage, which says where data goes"),
        ("mlflow:\n  tracking_uri: sqlite:///stolen.db\n", "sets mlflow.tracking_uri, which says where"),
        ("workdir: /tmp/elsewhere\n", "sets workdir, which says where data goes"),
        ("export_dir: /tmp/elsewhere\n", "sets export_dir, which says where data goes"),
    ],
)
def test_an_overlay_may_not_interpolate_nor_route_data(in_empty_dir, capsys, monkeypatch, content, message):
    monkeypatch.setenv("OVERLAY_SECRET", "s3cretvalue")
    (in_empty_dir / "ov.yaml").write_text(content)
    assert main(["+study=toy", "+overlay=ov.yaml", "n_trials=1", "n_jobs=1"]) == 2
    line = one_error_line(capsys)
    assert message in line and "s3cretvalue" not in line
    assert sorted(os.listdir(in_empty_dir)) == ["ov.yaml"]


def test_an_overlay_routing_key_given_on_the_command_line_too_is_allowed(in_empty_dir, capsys):
    import yaml

    (in_empty_dir / "ov.yaml").write_text("export_dir: from_overlay\ntoy:\n  x: 1.5\n")
    assert main(["+study=toy", "+overlay=ov.yaml", "export_dir=from_cli", "--cfg", "job"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["export_dir"] == "from_cli" and shown["toy"]["x"] == 1.5


def test_a_replay_file_may_not_interpolate(in_empty_dir, capsys):
    (in_empty_dir / "best.yaml").write_text("toy:\n  kind: ${oc.env:HOME}\n")
    assert main(["+study=toy", "+replay=best.yaml"]) == 2
    assert "sets toy.kind to an interpolation" in one_error_line(capsys)


# --------------------------------------------------------------------------- F: one export, three files


def _export(folder, trial: int):
    from hedgeopt.results.export import write_export

    doc = {"toy": {"x": float(trial)}, "metadata": {"best_trial": trial}}
    return write_export(doc, folder, "toy")


def _trials_named(folder) -> set:
    import json

    import yaml

    toy = folder / "toy"
    return {
        yaml.safe_load((toy / "best.yaml").read_text())["metadata"]["best_trial"],
        json.loads((toy / "best.json").read_text())["metadata"]["best_trial"],
        yaml.safe_load((toy / "overlay.yaml").read_text())["toy"]["x"],
    }


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_an_interrupt_while_exporting_leaves_the_old_export_whole(tmp_path, monkeypatch, fail_at):
    """The interrupt comes as the n-th file is synced to disk (the third: just before the swap)."""
    _export(tmp_path, 3)
    (tmp_path / "toy" / "notes.txt").write_text("mine")
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(fd)
        if len(synced) == fail_at:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        _export(tmp_path, 6)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _trials_named(tmp_path) == {3}  # all three still name trial 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]  # no staging folder left
    _export(tmp_path, 6)
    assert _trials_named(tmp_path) == {6}
    assert (tmp_path / "toy" / "notes.txt").read_text() == "mine"  # a user's file is kept


def test_a_writer_killed_after_the_swap_leaves_a_folder_the_next_export_removes(tmp_path):
    import subprocess
    import sys

    _export(tmp_path, 3)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".toy.export-{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "best.yaml").write_text("metadata: {best_trial: 1}\n")
    _export(tmp_path, 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]
    assert _trials_named(tmp_path) == {6}


# --------------------------------------------------------------------------- G: matplotlib set up once


@pytest.mark.parametrize("resume", [False, True])
def test_a_short_run_draws_the_study_figures_while_matplotlib_is_still_importing(tmp_path, resume):
    """matplotlib's import is made slow (tests/support/slow_matplotlib), so that the figures are
    drawn while the import started beside the search is still under way."""
    import subprocess
    import sys

    from tests.conftest import SUPPORT, cli_env

    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT / "slow_matplotlib"), env["PYTHONPATH"]])
    args = [sys.executable, "-m", "hedgeopt", "progress=false", "+study=toy", "n_trials=2", "n_jobs=1"]
    if resume:  # a first run, then a resume with nothing to run
        first = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        for png in tmp_path.glob("mlruns/artifacts/**/optimization_history.png"):
            png.unlink()
    env["HEDGEOPT_TEST_SLOW_MATPLOTLIB"] = "3"
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "partially initialized" not in proc.stderr, proc.stderr
    assert "were not drawn" not in proc.stderr, proc.stderr
    assert list(tmp_path.glob("mlruns/artifacts/**/plots/optimization_history.png")), proc.stderr
    assert list(tmp_path.glob("mlruns/artifacts/**/plots/param_importance.png")), proc.stderr


# --------------------------------------------------------------------------- J: one line, with the path


def test_a_full_export_dir_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    import errno

    from hedgeopt.errors import one_line
    from hedgeopt.results import export

    _export(tmp_path, 3)

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as os.write says it: no file name

    monkeypatch.setattr(export, "_write_synced", full)
    with pytest.raises(Exception) as info:
        _export(tmp_path, 6)
    line = one_line(info.value)
    assert line == f"cannot write the export to {tmp_path / 'toy'}: No space left on device"
    assert _trials_named(tmp_path) == {3}


def test_sigterm_during_a_slow_compose_is_one_line_and_exit_130(in_empty_dir, capsys, monkeypatch):
    import signal
    import time

    from hedgeopt.config import compose as config

    def slow_compose(overrides, with_hydra=False):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while Hydra composes
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the compose")

    monkeypatch.setattr(config, "compose_config", slow_compose)
    assert main(["+study=toy", "--cfg", "job"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "hedgeopt: interrupted", err
