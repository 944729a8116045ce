"""Hardening, end to end: real CLI processes, real kills, real damaged files."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import Store, run_cli, start_cli

pytestmark = pytest.mark.slow


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hedgeopt: error")]


def test_a_journal_cut_mid_line_with_its_newline_is_repaired_and_every_rerun_works(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=4", "n_jobs=1")
    assert r.returncode == 0, r.stderr
    journal = workdir / "mlruns" / "optuna" / "toy.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1][: len(lines[-1]) // 2] + b"\n"
    journal.write_bytes(b"".join(lines))
    warnings = []
    for _ in range(2):  # the second rerun crashed, and every one after it, before the repair
        r = run_cli(workdir, "+study=toy", "n_trials=6", "n_jobs=1")
        assert r.returncode == 0, r.stderr
        warnings.append("dropped 1 damaged line" in r.stderr)
    assert warnings == [True, False]
    trials = Store(workdir).trials("toy")  # Optuna's own loader, no repair in between
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    assert len(list(journal.parent.glob("toy.journal.damaged-*"))) == 1


def _killed_while_scoring(workdir: Path, kills: int):
    """A three-trial toy study whose worker SIGKILLs itself at its first ``kills`` scorings of
    the best config: the CLI's result and the marker file that counts the kills."""
    marker = workdir / "kills.txt"
    r = run_cli(
        workdir,
        "+study=toy",
        "n_trials=3",
        "n_jobs=1",
        "objective._target_=toy_hardening.ToyKilledWhileScoring",
        f"+toy.kill_marker={marker}",
        f"+toy.kills={kills}",
    )
    return r, marker


def test_a_worker_killed_while_scoring_the_best_config_is_retried(workdir: Path):
    r, marker = _killed_while_scoring(workdir, kills=1)
    assert r.returncode == 0, r.stderr
    assert "died while scoring the best config; retrying" in r.stderr
    assert marker.read_text().count("\n") == 1  # one real SIGKILL happened
    doc = yaml.safe_load((workdir / "exports" / "toy" / "best.yaml").read_text())
    assert doc["performance"]["out_of_sample"]["loss"] is not None


def test_a_worker_killed_at_every_scoring_ends_in_one_line_with_the_trials_kept(workdir: Path):
    r, marker = _killed_while_scoring(workdir, kills=99)
    assert r.returncode == 1
    errors = _errors(r.stderr)
    assert len(errors) == 1 and "run the same command again" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    store = Store(workdir)
    [parent] = store.runs("toy", "study")
    assert parent.info.status == "FAILED"
    assert sum(t.state.name == "COMPLETE" for t in store.trials("toy")) == 3


def test_after_a_kill_no_staging_is_left_and_the_export_names_the_best_trials_run(workdir: Path):
    proc = start_cli(workdir, "+study=toy", "n_trials=6", "n_jobs=2", "toy.sleep=1.0")
    staging = workdir / "mlruns" / ".staging"
    deadline = time.time() + 120
    while time.time() < deadline and not (staging.is_dir() and any(staging.iterdir())):
        time.sleep(0.2)
    time.sleep(2.5)  # some trials finish and are logged
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, no clean-up at all
    proc.wait(timeout=30)
    assert any(staging.iterdir())  # what a kill leaves
    r = run_cli(workdir, "+study=toy", "n_trials=6", "n_jobs=2", "toy.sleep=1.0")
    assert r.returncode == 0, r.stderr
    assert list(staging.iterdir()) == []
    # a third invocation runs no trial: its export still names the best trial's MLflow run
    r = run_cli(workdir, "+study=toy", "n_trials=6", "n_jobs=2", "toy.sleep=1.0")
    assert r.returncode == 0 and "already has 6 trials" in r.stderr, r.stderr
    meta = yaml.safe_load((workdir / "exports" / "toy" / "best.yaml").read_text())["metadata"]
    run = Store(workdir).client.get_run(meta["mlflow_trial_run_id"])
    assert run.data.tags["hedgeopt.trial_number"] == str(meta["best_trial"])
    assert [r.info.status for r in Store(workdir).runs("toy", "trial") if r.info.status == "RUNNING"] == []
