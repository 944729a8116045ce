"""Benchmark: the same studies through ``executor=local`` (loky) and ``executor=dask`` (a
LocalCluster of 2 single-threaded worker processes), and a Dask worker's death to its trial's retry.

Studies: the test study ``toy`` (sleep-based trials, ``toy.sleep``) and ``delta_hedge``, each with
n_jobs=2 on a fresh PostgreSQL database per run (Dask refuses file storages). Throughput is
n_trials over the span from the first trial's start to the last trial's end (Optuna's own
timestamps), so start-up and the export are left out; the wall time of the whole invocation
(the cluster's start included) is printed beside it, and dask/local is their ratio.

Kill-to-retry: a Dask worker process running a trial is SIGKILLed; printed are the seconds from
the kill to the trial's FAIL (the parent sees the worker leave the cluster) and to its retry's start.

Needs PostgreSQL at 127.0.0.1:5432 (trust auth; database ``test``) and ``distributed``.

    python benchmarks/bench_executor.py [--toy-trials 16] [--delta-trials 8] [--sleep 0.25]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import Postgres, completed_throughput, first_running, kill_to_retry, wait_ok  # noqa: E402
from toy_study import start_hedgeopt, start_toy  # noqa: E402

from hedgeopt.names import stamped  # noqa: E402


def load(storage: str, name: str):
    import optuna

    from hedgeopt.storages.opening import open_storage, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(
        study_name=name, storage=open_storage(resolve_storage(storage, name, workdir="mlruns"))
    )


def run_once(pg: Postgres, study: str, executor: str, n_trials: int, extra: list[str]) -> tuple[float, float]:
    storage = pg.fresh()
    args = [f"+study={study}", f"executor={executor}", "n_jobs=2", f"n_trials={n_trials}"]
    args += [f"storage={storage}", "progress=false", *extra]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        wait_ok(start_hedgeopt(Path(tmp), *args))
        wall = time.perf_counter() - t0
    return completed_throughput(load(storage, study).trials, n_trials), wall


def dask_kill_latency(pg: Postgres) -> tuple[float, float]:
    """Seconds from SIGKILL of a Dask worker to its trial's FAIL and to the retry's start."""
    storage = pg.fresh()
    args = [f"storage={storage}", "executor=dask", "n_trials=4", "n_jobs=2", "toy.sleep=3"]
    args += ["heartbeat_interval=10", "grace_period=30"]  # the defaults: heartbeats are not what finds it
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_toy(Path(tmp), *args)
        victim = first_running(
            lambda: load(storage, "toy").trials, lambda t: stamped(t.user_attrs, "worker") and t.params
        )
        if victim is None:
            raise SystemExit("no trial started on a Dask worker")
        time.sleep(0.5)
        os.kill(int(stamped(victim.user_attrs, "pid")), signal.SIGKILL)
        killed = time.time()
        wait_ok(proc)
    return kill_to_retry(load(storage, "toy").trials, victim, killed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toy-trials", type=int, default=16)
    ap.add_argument("--delta-trials", type=int, default=8)
    ap.add_argument("--sleep", type=float, default=0.25, help="toy.sleep: seconds per toy trial")
    ap.add_argument("--no-kill", action="store_true")
    a = ap.parse_args()
    pg = Postgres()
    try:
        print(f"n_jobs=2, {os.cpu_count()} cores; dask = LocalCluster(2 processes, 1 thread each)")
        print(f"{'study':>12} {'executor':>8} {'trials':>6} {'trials/s':>9} {'wall s':>7}")
        studies = (
            ("toy", a.toy_trials, [f"toy.sleep={a.sleep}", "sampler=random"]),
            ("delta_hedge", a.delta_trials, []),
        )
        for study, n, extra in studies:
            figures = {}
            for executor in ("local", "dask"):
                tps, wall = run_once(pg, study, executor, n, extra)
                figures[executor] = (tps, wall)
                print(f"{study:>12} {executor:>8} {n:>6} {tps:>9.2f} {wall:>7.1f}", flush=True)
            (lt, lw), (dt, dw) = figures["local"], figures["dask"]
            print(f"{study:>12} {'ratio':>8} {'':>6} {dt / lt:>9.2f} {dw / lw:>7.2f}   (dask / local)")
        if not a.no_kill:
            fail, retry = dask_kill_latency(pg)
            print(
                f"\nDask worker SIGKILLed mid-trial: trial failed after {fail:.1f} s, "
                f"retry started after {retry:.1f} s"
            )
    finally:
        pg.close()


if __name__ == "__main__":
    main()
