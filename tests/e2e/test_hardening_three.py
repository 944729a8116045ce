"""Hardening, round two, continued (issue 27 cases 1, 2, 5, 6): real CLI processes, real signals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import Store, run_cli, start_cli

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
    pids = {t.user_attrs.get("hedgeopt.pid") for t in later}
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
