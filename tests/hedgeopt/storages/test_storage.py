"""Storage helpers: URL resolution and masking, the counting rule, reaping lost trials."""

from __future__ import annotations

import time

import optuna
import pytest

from hedgeopt import names
from hedgeopt.masking import mask
from hedgeopt.storages import opening as st
from hedgeopt.storages import trial_bookkeeping as tb


def test_mask_url_hides_passwords_only():
    assert mask("postgresql://alice:s3cr%40t@db:5432/optuna") == "postgresql://alice:***@db:5432/optuna"
    assert (
        mask("see http://u:pw@host:5000 and redis://:pw2@r:6379/0")
        == "see http://u:***@host:5000 and redis://:***@r:6379/0"
    )
    assert mask("sqlite:///mlruns/mlflow.db") == "sqlite:///mlruns/mlflow.db"
    assert mask("postgresql://alice@db/optuna") == "postgresql://alice@db/optuna"


@pytest.mark.parametrize(
    "value, kind",
    [
        (None, "journal"),
        ("runs/study.journal", "journal"),
        ("sqlite:///x.db", "rdb"),
        ("postgresql://u@h/db", "rdb"),
        ("redis://127.0.0.1:6379/0", "redis"),
    ],
)
def test_resolve_storage_kinds(value, kind):
    spec = st.resolve_storage(value, "demo", workdir="mlruns", heartbeat_interval=10, grace_period=30)
    assert spec.kind == kind
    if value is None:
        assert spec.url == "mlruns/optuna/demo.journal"


def test_resolve_storage_rejects_unknown_schemes():
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        st.resolve_storage("ftp://h/x", "demo", workdir="mlruns")


def _journal_study(tmp_path):
    spec = st.resolve_storage(str(tmp_path / "s.journal"), "s", workdir=tmp_path)
    return optuna.create_study(study_name="s", storage=st.open_storage(spec))


def test_counting_rule(tmp_path):
    study = _journal_study(tmp_path)
    study.tell(study.ask(), 1.0)  # complete: counts
    t = study.ask()
    t.set_user_attr(names.ATTR_COUNTED, True)
    study.tell(t, state=optuna.trial.TrialState.FAIL)  # objective failure: counts
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # interrupted: does not
    study.ask()  # running: counts
    assert tb.count_trials(study) == (3, 1)


def test_a_trial_whose_worker_died_before_stamping_it_is_failed_and_retried(tmp_path, monkeypatch):
    study = _journal_study(tmp_path)
    lost = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert tb.reap_orphans(study) == 0  # young: its worker may be about to stamp it
    now = time.time()
    monkeypatch.setattr(tb.time, "time", lambda: now + 61)
    assert tb.reap_orphans(study) == 1
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL" and "worker lost" in trials[0].user_attrs[names.ATTR_FAIL_REASON]
    retry = [t for t in trials if t.state.name == "WAITING"]
    assert len(retry) == 1 and retry[0].params == lost.params and lost.params


def test_fail_and_retry_ends_only_running_trials_and_queues_their_params_again(tmp_path):
    study = _journal_study(tmp_path)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    lost, done = study.ask(dist), study.ask(dist)
    study.tell(done, 1.0)
    ids = [lost._trial_id, done._trial_id]
    assert tb.fail_and_retry(study, ids, "worker lost: test") == 1
    assert tb.fail_and_retry(study, ids, "worker lost: test") == 0  # already failed: once only
    trials = study.get_trials()
    assert [t.state.name for t in trials[:2]] == ["FAIL", "COMPLETE"]
    assert trials[0].user_attrs[names.ATTR_FAIL_REASON] == "worker lost: test"
    assert names.ATTR_FAIL_REASON not in trials[1].user_attrs
    retry = [t for t in trials if t.state.name == "WAITING"]
    assert len(retry) == 1 and retry[0].params == lost.params


def test_a_trial_of_a_dead_process_on_this_host_is_reaped_at_once(tmp_path):
    import socket
    import subprocess
    import sys

    study = _journal_study(tmp_path)
    t = study.ask()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    t.set_user_attr(names.ATTR_STAMP, {"host": socket.gethostname(), "pid": int(dead)})
    alive = study.ask()
    alive.set_user_attr(names.ATTR_STAMP, {"host": socket.gethostname(), "pid": __import__("os").getpid()})
    assert tb.reap_orphans(study, "interrupted") == 1
    states = {tr.number: tr.state.name for tr in study.get_trials()}
    assert states[t.number] == "FAIL" and states[alive.number] == "RUNNING"
