"""What the parent hands a worker: settings and search space validated once, picklable, and
used by the worker as they are (workers never validate the config again)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numba  # noqa: F401 - loaded first, so the worker loop run here caps it by call, not by env
import optuna
import pytest
from conftest import SUPPORT, TEST_CONF
from threadpoolctl import threadpool_limits

from hedgeopt.config import settings as settings_mod
from hedgeopt.config.compose import compose
from hedgeopt.config.settings import validate
from hedgeopt.execution.objective_builder import objective_key
from hedgeopt.execution.trial import WorkerTask
from hedgeopt.execution.worker import THREAD_ENV, run_worker
from hedgeopt.storages.opening import open_storage


@pytest.fixture(autouse=True)
def _test_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", str(TEST_CONF))
    monkeypatch.syspath_prepend(str(SUPPORT))
    for var in THREAD_ENV:  # a worker caps its thread pools through these
        if var != "NUMBA_NUM_THREADS":  # numba (imported above) keeps its own: a change breaks it
            monkeypatch.setenv(var, "1")


def _task(tmp_path: Path, *overrides: str) -> WorkerTask:
    cfg = compose(["+study=toy", "workdir=store", *overrides])
    settings, space = validate(cfg)
    return WorkerTask(
        cfg, objective_key(cfg), settings, space, 0, 123, "inv", str(tmp_path / "stage"), None, 1
    )


def test_a_worker_task_pickles_with_its_validated_settings_and_search_space(tmp_path):
    task = _task(tmp_path, "sampler=grid", "n_trials=100")
    back = pickle.loads(pickle.dumps(task))
    assert back.settings == task.settings and back.settings.n_trials == 24  # the grid's cap
    assert back.settings.storage.url == "store/optuna/toy.journal"
    assert back.space.params == task.space.params and back.space.grid() == task.space.grid()


def test_a_worker_runs_its_trials_on_the_settings_it_was_given_without_validating(tmp_path, monkeypatch):
    task = _task(tmp_path, "n_trials=3", "sampler=random")

    def refuse(cfg):
        raise AssertionError("a worker validated the config again")

    monkeypatch.setattr(settings_mod, "validate", refuse)
    optuna.create_study(study_name="toy", storage=open_storage(task.settings.storage))
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with threadpool_limits(limits=None):  # restores the thread pools the worker capped
            done = run_worker(task)
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert done == {"complete": 3, "pruned": 0, "failed": 0}
    study = optuna.load_study(study_name="toy", storage=open_storage(task.settings.storage))
    assert len(study.trials) == 3 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert set(study.trials[0].params) <= {p.name for p in task.space.params}


def test_capping_threads_after_numba_started_leaves_numba_compiling():
    # numba refuses a changed NUMBA_NUM_THREADS once its threads run; the cap must go through
    # numba.set_num_threads instead (CI failed 25 tests when a worker loop ran in the test process)
    code = (
        "import numba, numpy as np\n"
        "from hedgeopt.execution.worker import limit_threads\n"
        "f = numba.njit(parallel=True)(lambda a: a.sum())\n"
        "f(np.ones(10))\n"
        "limit_threads(1)\n"
        "g = numba.njit(lambda a: a.max())\n"
        "print(g(np.arange(4.0)), numba.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    env["NUMBA_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3.0", "1"]
