"""Hardening, round two, continued (issue 27 cases 1, 2, 5, 6): real CLI processes, real signals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import Store, run_cli, start_cli

from hedgeopt.names import stamped

pytestmark = pytest.mark.slow


def _journal(workdir: Path, study: str = "toy") -> Path:
    return workdir / "mlruns" / "optuna" / f"{study}.journal"


def _trials(workdir: Path) -> list:
    try:
        return Store(workdir).trials("toy")
    except Exception:  # noqa: BLE001 - not created yet, or a record half written
        return []


def _wait_for(pred, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _state_counts(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


# --------------------------------------------------------------------------- case 5: Ctrl-C, n_jobs=1


def test_ctrl_c_with_one_worker_stops_the_study_and_the_trials_ran_in_a_worker(workdir: Path):
    args = ("+study=toy", "n_trials=8", "n_jobs=1", "toy.sleep=1.0")
    proc = start_cli(workdir, *args)
    _wait_for(lambda: any(t.state.name == "COMPLETE" for t in _trials(workdir)))
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted with" in out and "Traceback" not in out, out
    after = _trials(workdir)
    time.sleep(2.5)  # a worker that ignored the interrupt would start (and finish) more trials
    later = _trials(workdir)
    assert len(later) == len(after), (_state_counts(after), _state_counts(later))
    assert all(t.state.name != "RUNNING" for t in later), _state_counts(later)
    pids = {stamped(t.user_attrs, "pid") for t in later}
    assert proc.pid not in pids and pids - {None}, pids  # the trials ran in a worker process
    n_complete = sum(t.state.name == "COMPLETE" for t in later)
    assert 1 <= n_complete < 8
    r = run_cli(workdir, *args)
    assert r.returncode == 0, r.stderr
    final = Store(workdir).trials("toy")
    assert sum(t.state.name == "COMPLETE" for t in final) == 8
    logged = [int(r.data.tags["hedgeopt.trial_number"]) for r in Store(workdir).runs("toy", "trial")]
    assert len(logged) == len(set(logged)), sorted(logged)  # nothing logged twice
    assert {t.number for t in final if t.state.name == "COMPLETE"} <= set(logged)


# --------------------------------------------------------------------------- case 6: kill -9 of the parent


def _alive(procs) -> list:
    import psutil

    out = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:  # gone (a zombie nobody reaps in a container counts as gone)
            pass
    return out


def test_workers_of_a_parent_killed_with_sigkill_stop_and_a_rerun_completes_exactly(workdir: Path):
    import psutil

    args = ("+study=toy", "n_trials=10", "n_jobs=2", "toy.sleep=1.0")
    proc = start_cli(workdir, *args)
    _wait_for(lambda: sum(t.state.name == "COMPLETE" for t in _trials(workdir)) >= 2)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: no clean-up, its workers orphaned
    proc.wait(timeout=30)
    t_kill = time.time()
    deadline = t_kill + 60
    while time.time() < deadline and _alive(workers):
        time.sleep(0.2)
    print(f"workers_gone_after_s={time.time() - t_kill:.1f} workers={len(workers)}")
    left = _alive(workers)
    for p in left:  # do not leave them searching after the test
        p.kill()
    assert left == [], [(p.pid, p.status()) for p in left]
    stopped = _trials(workdir)
    time.sleep(3.0)  # no worker is left to ask for a trial
    assert len(_trials(workdir)) == len(stopped)
    assert sum(t.state.name == "COMPLETE" for t in stopped) < 10
    r = run_cli(workdir, *args)
    assert r.returncode == 0, r.stderr
    final = Store(workdir).trials("toy")
    assert sum(t.state.name == "COMPLETE" for t in final) == 10
    assert not any(t.state.name == "RUNNING" for t in final)
    logged = [int(r.data.tags["hedgeopt.trial_number"]) for r in Store(workdir).runs("toy", "trial")]
    assert len(logged) == len(set(logged)), sorted(logged)


# --------------------------------------------------------------------------- case 2: a cut journal line


CUT = b'{"op_code":5,"worker_id":"gone","trial_id":0,"user_a'


def _records(data: bytes) -> list[bytes]:
    import json

    out = []
    for line in data.splitlines():
        try:
            json.loads(line)
        except ValueError:
            continue
        out.append(line)
    return out


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_line_cut_while_the_study_runs_is_never_glued_to_the_next_record(workdir: Path, n_jobs: int):
    journal = _journal(workdir)
    args = (
        "+study=toy",
        "n_trials=5",
        f"n_jobs={n_jobs}",
        "objective._target_=toy_hardening.ToyCutsJournal",
        f"+toy.journal={journal}",
        f"+toy.cut_marker={workdir / 'cut.txt'}",
    )
    r = run_cli(workdir, *args)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "JSONDecodeError" not in r.stderr, r.stderr
    # a worker that opened the storage after the cut may already have repaired it (a backup kept)
    for f in [journal, *journal.parent.glob("toy.journal.damaged-*")]:
        lines = f.read_bytes().splitlines()
        assert not any(CUT in x and x != CUT for x in lines), f  # never glued to a record
    whole = _records(journal.read_bytes())
    r2 = run_cli(workdir, *args)
    assert r2.returncode == 0, r2.stderr
    assert "dropped 1 damaged line" in r.stderr + r2.stderr, (r.stderr, r2.stderr)
    assert _records(journal.read_bytes())[: len(whole)] == whole  # the repair kept every whole record
    trials = Store(workdir).trials("toy")  # Optuna's own reader
    assert _state_counts(trials).get("COMPLETE") == 5, _state_counts(trials)


def test_the_repair_keeps_a_whole_record_glued_onto_a_cut_line(tmp_path: Path):
    from hedgeopt.storages.journal_repair import repair_journal

    class NoLock:
        def acquire(self):
            pass

        def release(self):
            pass

    first = b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1]}\n'
    glued = b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_start":"x"}\n'
    last = b'{"op_code":5,"worker_id":"w","trial_id":0,"user_attr":{"a":1}}\n'
    path = tmp_path / "s.journal"
    path.write_bytes(first + CUT + glued + last)  # what an old writer left
    done = repair_journal(path, NoLock())
    assert done.dropped == (2,)
    assert path.read_bytes() == first + glued + last


@pytest.mark.parametrize(
    "error, counted",
    [
        (__import__("json").JSONDecodeError("Expecting ':' delimiter", "{", 1), False),
        (OSError(28, "No space left on device"), False),
        (RuntimeError("the search space is wrong"), True),
    ],
)
def test_a_storage_error_while_the_sampler_suggests_is_not_an_objective_failure(tmp_path, error, counted):
    from types import SimpleNamespace

    import optuna

    from hedgeopt.execution.trial import execute_trial
    from hedgeopt.storages.trial_bookkeeping import count_trials

    study = optuna.create_study()

    def suggest(trial):
        raise error

    task = SimpleNamespace(
        settings=SimpleNamespace(
            multi_objective=False,
            metrics=("loss",),
            workdir=str(tmp_path),
            study_name="s",
            storage=SimpleNamespace(kind="journal"),
            tracking_uri=None,
            pruner={"_target_": "optuna.pruners.NopPruner"},
        ),
        invocation="inv",
        staging_dir=str(tmp_path),
        staging_uri=None,
    )
    done = {"complete": 0, "pruned": 0, "failed": 0}
    study.optimize(lambda t: execute_trial(t, suggest, None, task, done), n_trials=1, catch=(Exception,))
    assert study.trials[0].state.name == "FAIL"
    assert count_trials(study) == (int(counted), 0)  # an uncounted trial is replaced by the next ask
    assert done["failed"] == int(counted)


# ------------------------------------------------------------------------ case 1: two resumes adopt at once


def test_two_resumes_at_once_adopt_a_killed_runs_trials_once(workdir: Path, tmp_path: Path):
    """Two invocations resume a study whose last run was killed before it logged its trials;
    the hook (tests/support/racing_adoption) starts their adoptions together and slows them."""
    import subprocess
    import sys

    from conftest import SUPPORT, cli_env

    args = ["+study=toy", "n_trials=3", "n_jobs=1"]
    r = run_cli(workdir, *args)
    assert r.returncode == 0, r.stderr
    store = Store(workdir)
    [parent] = store.runs("toy", "study")
    staging = workdir / "mlruns" / ".staging" / parent.info.run_id
    for run in store.runs("toy", "trial"):  # what a kill before logging leaves: no trial run ...
        store.client.delete_run(run.info.run_id)
        folder = staging / run.data.tags["hedgeopt.trial_number"]  # ... and the staged artifacts
        folder.mkdir(parents=True)
        (folder / "note.txt").write_text("staged\n")
    store.client.update_run(parent.info.run_id, status="RUNNING")
    store.client.set_tag(parent.info.run_id, "hedgeopt.pid", "999999999")  # a process that is gone
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT / "racing_adoption"), env["PYTHONPATH"]])
    env["HEDGEOPT_TEST_ADOPTION_BARRIER"] = str(barrier)
    cmd = [sys.executable, "-m", "hedgeopt", "progress=false", *args]
    procs = [
        subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    assert len(list(barrier.glob("arrived-*"))) == 2  # both adoptions started together
    runs = Store(workdir).runs("toy", "trial")
    assert sorted(int(r.data.tags["hedgeopt.trial_number"]) for r in runs) == [0, 1, 2]  # each once
    adopted = [r for r in runs if r.data.tags.get("hedgeopt.adopted") == "true"]
    assert len(adopted) == 3
    for run in adopted:  # the staged artifacts went with them
        assert "note.txt" in {f.path for f in Store(workdir).client.list_artifacts(run.info.run_id)}
    assert not staging.exists()


# ---------------------------------------------------------------- cases 7, 8: a silent tracking server


@pytest.fixture
def silent_server():
    """A local socket that accepts connections (the kernel's backlog) and never answers."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def hanging_server():
    """An HTTP server that answers ``/health`` and nothing else (a server that hangs later)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/").endswith("/health"):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
                return
            release.wait(600)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hedgeopt: error")]


def test_a_tracking_server_that_never_answers_is_refused_before_anything_is_written(workdir, silent_server):
    r = run_cli(
        workdir, "+study=toy", "n_trials=1", "n_jobs=1", f"mlflow.tracking_uri={silent_server}", timeout=90
    )
    assert r.returncode == 2, r.stderr
    [line] = _error_lines(r.stderr)
    assert "did not answer an HTTP request within 5 s" in line and "Traceback" not in r.stderr, r.stderr
    assert os.listdir(workdir) == []


def test_a_tracking_server_that_stops_answering_ends_in_one_line(workdir, hanging_server):
    t0 = time.time()
    r = run_cli(
        workdir, "+study=toy", "n_trials=1", "n_jobs=1", f"mlflow.tracking_uri={hanging_server}", timeout=150
    )
    print(f"silent_server_error_after_s={time.time() - t0:.1f}")
    assert r.returncode == 1, r.stderr
    assert len(_error_lines(r.stderr)) == 1 and "Traceback" not in r.stderr, r.stderr
