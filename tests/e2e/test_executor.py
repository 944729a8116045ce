"""One study across a cluster (issue 25): ``executor=dask`` on a LocalCluster of real worker
processes against the local PostgreSQL, and the failure paths the executor layer closes.

Each Dask run starts a LocalCluster of two single-threaded worker processes; toy trials sleep,
so two cores suffice. Without ``distributed`` or PostgreSQL these tests skip.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import Store, run_cli, start_cli
from test_scale_out import (
    FAST_HEARTBEAT,
    _assert_lost_trial_retried_once,
    _kill_if_running,
    _sigkill_a_running_trial,
    _states,
    _study,
    _trials_so_far,
    _wait_for,
)
from test_scale_out import pg_url as _pg_url  # noqa: F401 - the fixture, under its own name

from hedgeopt.names import stamped

pytestmark = [pytest.mark.slow]

DASK = ("executor=dask", "executor.stop_grace=2")


@pytest.fixture
def dask_available():
    pytest.importorskip("distributed")


@pytest.fixture
def pg(_pg_url: str) -> str:  # noqa: F811 - the imported fixture, requested
    """A fresh PostgreSQL database (test_scale_out's fixture)."""
    return _pg_url


def _complete(url: str) -> int:
    """How many of the study's trials are complete so far (none before it is created)."""
    return _states(_trials_so_far(url) or []).get("COMPLETE", 0)


def _trial_runs(workdir: Path) -> dict[int, object]:
    runs = Store(workdir).runs("toy", "trial")
    numbers = [int(r.data.tags["hedgeopt.trial_number"]) for r in runs]
    assert len(numbers) == len(set(numbers)), "a trial was logged twice"
    return dict(zip(numbers, runs, strict=True))


@pytest.mark.services
def test_a_dask_local_cluster_runs_exactly_n_trials_each_logged_once_with_its_artifacts(
    workdir: Path, pg: str, dask_available
):
    r = run_cli(workdir, "+study=toy", *DASK, "n_jobs=2", "n_trials=6", "toy.sleep=0.3", f"storage={pg}")
    assert r.returncode == 0, r.stderr
    trials = _study(pg).trials
    assert _states(trials) == {"COMPLETE": 6}
    workers = {stamped(t.user_attrs, "worker") for t in trials}
    assert all(w.startswith("tcp://") for w in workers)
    runs = _trial_runs(workdir)
    assert sorted(runs) == list(range(6))
    client = Store(workdir).client
    for run in runs.values():
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"trial.yaml", "note.txt"}
    assert (workdir / "exports" / "toy" / "best.json").is_file()
    assert not any((workdir / "mlruns" / ".staging").iterdir())  # staging removed after the workers


def _all_suggested(params: dict) -> bool:
    """Whether the toy study's every param (toy.bonus only for kind b) is in ``params``."""
    return {"toy.x", "toy.n", "toy.kind"} <= set(params) and (
        params["toy.kind"] == "a" or "toy.bonus" in params
    )


@pytest.mark.services
def test_sigkill_of_a_dask_worker_fails_its_trial_once_and_the_retry_has_a_fresh_seed(
    workdir: Path, pg: str, dask_available
):
    args = ("+study=toy", *DASK, "n_jobs=2", "n_trials=6", "toy.sleep=2.0", f"storage={pg}")
    proc = start_cli(workdir, *args, *FAST_HEARTBEAT)

    def on_a_dask_worker(t) -> bool:  # a busy host leaves gaps between suggestions
        return bool(_all_suggested(t.params) and stamped(t.user_attrs, "worker"))

    victim, killed_at, _ = _sigkill_a_running_trial(
        proc, pg, on_a_dask_worker, 120, "a running trial on a Dask worker"
    )
    trials = _study(pg).trials
    killed, retry = _assert_lost_trial_retried_once(trials, victim, killed_at)
    dead_seed = stamped(killed.user_attrs, "sampler_seed")
    assert stamped(retry.user_attrs, "sampler_seed") != dead_seed
    # the re-run of the dead worker's loop did not reuse its seed
    later = [t for t in trials if t.datetime_start.timestamp() > killed_at]
    assert all(stamped(t.user_attrs, "sampler_seed") != dead_seed for t in later)
    runs = _trial_runs(workdir)
    assert sorted(runs) == [t.number for t in trials]  # every trial logged once, the lost one too


@pytest.mark.services
def test_ctrl_c_stops_dask_workers_within_the_grace_period_with_no_counted_failures(
    workdir: Path, pg: str, dask_available
):
    args = ("+study=toy", *DASK, "n_jobs=2", "n_trials=40", "toy.sleep=1.0", f"storage={pg}")
    proc = start_cli(workdir, *args, *FAST_HEARTBEAT)
    try:
        _wait_for(lambda: _complete(pg) >= 2, 120, "two complete trials")
        os.kill(proc.pid, signal.SIGINT)  # the parent only: it stops its workers itself
        stopped_at = time.time()
        out, _ = proc.communicate(timeout=60)
    finally:
        _kill_if_running(proc)
    assert proc.returncode == 130, out
    assert "interrupted with" in out
    time.sleep(1.5)  # a worker that ignored the stop would start another trial by now
    trials = _study(pg).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert not [t for t in trials if t.user_attrs.get("hedgeopt.counted")]
    assert all(t.datetime_start.timestamp() < stopped_at + 2 + 0.5 for t in trials if t.datetime_start)
    assert sum(t.state.name == "COMPLETE" for t in trials) < 40


def test_an_unwritable_staging_folder_is_one_line_and_no_failure_loop(workdir: Path):
    (workdir / "mlruns").mkdir()
    (workdir / "mlruns" / ".staging").write_text("a file where the staging folder goes")
    r = run_cli(workdir, "+study=toy", "n_trials=4", "n_jobs=1")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgeopt: error: workdir:") and ".staging" in lines[0]
    assert not (workdir / "mlruns" / "optuna").exists()  # nothing written


def test_a_worker_whose_artifact_folder_cannot_be_made_counts_each_failure(tmp_path, monkeypatch):
    """The mkdir inside the trial's try: failures count toward n_trials, so the loop ends."""
    import optuna
    from conftest import SUPPORT, TEST_CONF
    from threadpoolctl import threadpool_limits

    from hedgeopt.config.compose import compose
    from hedgeopt.config.settings import validate
    from hedgeopt.execution.objective_builder import objective_key
    from hedgeopt.execution.trial import WorkerTask
    from hedgeopt.execution.worker import run_worker
    from hedgeopt.storages.opening import open_storage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", str(TEST_CONF))
    monkeypatch.syspath_prepend(str(SUPPORT))
    cfg = compose(["+study=toy", "workdir=store", "n_trials=3", "sampler=random"])
    settings, space = validate(cfg)
    (tmp_path / "blocker").write_text("not a folder")
    staging = str(tmp_path / "blocker" / "stage")
    task = WorkerTask(cfg, objective_key(cfg), settings, space, 0, 5, "inv", staging, None, 1)
    optuna.create_study(study_name="toy", storage=open_storage(settings.storage))
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with threadpool_limits(limits=None):
            done = run_worker(task)
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert done == {"complete": 0, "pruned": 0, "failed": 3}
    trials = optuna.load_study(study_name="toy", storage=open_storage(settings.storage)).trials
    assert len(trials) == 3
    assert all(t.state.name == "FAIL" and t.user_attrs["hedgeopt.counted"] for t in trials)
    assert "NotADirectoryError" in trials[0].user_attrs["hedgeopt.fail_reason"]


def test_executor_dask_refuses_a_journal_storage_before_anything_is_written(workdir: Path, dask_available):
    r = run_cli(workdir, "+study=toy", "executor=dask", "n_jobs=2")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "executor=dask needs a storage every worker host reaches" in lines[0]
    assert not (workdir / "mlruns").exists() and not (workdir / "exports").exists()


def test_mlflow_staging_without_a_tracking_server_is_one_line_before_anything_is_written(workdir: Path):
    r = run_cli(workdir, "+study=toy", "executor.staging=mlflow", "n_jobs=1")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgeopt: error: executor.staging=mlflow:")
    assert "mlflow.tracking_uri must be http:// or https://" in lines[0]
    assert not (workdir / "mlruns").exists() and not (workdir / "exports").exists()


_CLUSTER = """
import sys, logging
from distributed import LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                       silence_logs=logging.ERROR)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the test closes our stdin
cluster.close()
"""


@pytest.mark.services
def test_sigkill_of_the_parent_ends_the_loops_on_a_cluster_it_did_not_start(
    workdir: Path, pg: str, dask_available
):
    """A scheduler of its own (another process, as on other hosts): the parent's pid means
    nothing there, so the loops watch the parent's heartbeat and end once it stops."""
    import subprocess
    import sys

    from conftest import cli_env
    from distributed import Client

    def _loops_running(dask_worker) -> int:
        """In a Dask worker (``client.run``): the threads inside a hedgeopt worker loop."""
        import sys

        def in_loop(frame) -> bool:
            while frame is not None:
                if frame.f_code.co_name == "run_worker" and "hedgeopt" in frame.f_code.co_filename:
                    return True
                frame = frame.f_back
            return False

        return sum(in_loop(f) for f in sys._current_frames().values())

    cluster = subprocess.Popen(
        [sys.executable, "-c", _CLUSTER],
        cwd=workdir,
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc = None
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        args = ("+study=toy", *DASK, f"executor.address={address}", "n_jobs=2", "n_trials=200")
        proc = start_cli(workdir, *args, "toy.sleep=1.0", f"storage={pg}", *FAST_HEARTBEAT)

        _wait_for(lambda: _complete(pg) >= 2, 120, "two complete trials")
        os.killpg(proc.pid, signal.SIGKILL)  # the parent alone: the cluster is not its child
        killed_at = time.time()
        proc.communicate(timeout=30)
        with Client(address, timeout=10) as client:
            _wait_for(lambda: sum(client.run(_loops_running).values()) == 0, 30, "the loops to end")
            ended_at = time.time()
        trials = _study(pg).trials
        assert max(t.datetime_start.timestamp() for t in trials) < killed_at + 10
        assert ended_at - killed_at < 20
        time.sleep(2)  # a loop still going would start another trial
        assert len(_study(pg).trials) == len(trials)
        assert sum(t.state.name == "COMPLETE" for t in trials) < 200
    finally:
        if proc is not None:
            _kill_if_running(proc)
        cluster.communicate(input="", timeout=60)
