"""Benchmark: trials per second of a CPU-bound objective with 1, 2 and 4 worker processes spread
over two invocations, on PostgreSQL storage against the embedded journal file; and how long a
killed worker's trial takes to be failed and retried.

The objective is the test study's toy objective with ``toy.burn`` (a fixed pure-Python loop,
one core per trial). Worker layouts: 1 = one invocation with n_jobs=1; 2 = two invocations
with n_jobs=1 each; 4 = two invocations with n_jobs=2 each, all on one study. Throughput is
n_trials over the span from the first trial's start to the last trial's end (Optuna's own
timestamps), so process start-up, objective set-up and the export are left out; the wall time
of the whole run (both invocations, start to exit) is printed beside it.

Kill-to-retry: one worker of a running invocation is SIGKILLed mid-trial (the parent sees its
pid die and fails the trial at once), and a whole invocation is SIGKILLed and resumed (only
heartbeats can tell: the trial fails once no heartbeat came for grace_period seconds). Both
print the seconds from the kill to the trial's FAIL and to its retry's start.

Needs PostgreSQL at 127.0.0.1:5432 (trust auth; database ``test`` to create scratch databases).

    python benchmarks/bench_scale.py [--trials 24] [--burn 3000000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toy_study import start_toy  # noqa: E402

from hedgeopt.names import stamped  # noqa: E402

LAYOUTS = {1: (1,), 2: (1, 1), 4: (2, 2)}  # workers -> n_jobs of each invocation


def wait_ok(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"hedgeopt exited {proc.returncode}:\n{out[-3000:]}")


class Postgres:
    def __init__(self) -> None:
        import psycopg2

        self.conn = None
        for user in ("postgres", "root"):
            try:
                self.conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
                self.user = user
                break
            except Exception:  # noqa: BLE001
                continue
        if self.conn is None:
            raise SystemExit("PostgreSQL is not reachable at 127.0.0.1:5432")
        self.conn.autocommit = True
        self.dbs: list[str] = []

    def fresh(self) -> str:
        name = f"hedgeopt_bench_{uuid.uuid4().hex[:8]}"
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        self.dbs.append(name)
        return f"postgresql://{self.user}@127.0.0.1:5432/{name}"

    def close(self) -> None:
        with self.conn.cursor() as cur:
            for name in self.dbs:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.conn.close()


def load(storage: str | None, cwd: Path):
    import optuna

    from hedgeopt.storages.opening import open_storage, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = resolve_storage(storage, "toy", workdir=cwd / "mlruns")  # the CLI's default workdir
    return optuna.load_study(study_name="toy", storage=open_storage(spec))


def completed_throughput(trials: list, n_trials: int) -> float:
    """Trials a second: ``n_trials`` over the span from the first complete trial's start to the
    last one's end (Optuna's own timestamps: start-up and the export left out); asserted that
    exactly ``n_trials`` completed."""
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == n_trials, (len(done), n_trials)
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return n_trials / span


def first_running(trials_now: Callable[[], list], accept: Callable[[Any], bool], timeout: float = 120) -> Any:
    """The first RUNNING trial ``accept`` takes, polled every 0.2 s for ``timeout`` seconds (None:
    none by then); a study the invocation has not created yet has none running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            running = [t for t in trials_now() if t.state.name == "RUNNING" and accept(t)]
        except Exception:  # noqa: BLE001 - not created yet
            continue
        if running:
            return running[0]
    return None


def kill_to_retry(trials: list, victim: Any, killed: float) -> tuple[float, float]:
    """Seconds from the kill at ``killed`` to the victim trial's FAIL and to its retry's start."""
    failed = trials[victim.number]
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number][0]
    return failed.datetime_complete.timestamp() - killed, retry.datetime_start.timestamp() - killed


def throughput(storage: str | None, workers: int, n_trials: int, burn: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        args = [f"n_trials={n_trials}", f"toy.burn={burn}", "sampler=random"]
        if storage:
            args.append(f"storage={storage}")
        t0 = time.perf_counter()
        procs = [start_toy(cwd, *args, f"n_jobs={n}") for n in LAYOUTS[workers]]
        for p in procs:
            wait_ok(p)
        wall = time.perf_counter() - t0
        return completed_throughput(load(storage, cwd).trials, n_trials), wall


def kill_latency(pg: Postgres, whole: bool, hb: int, grace: int) -> tuple[float, float]:
    """Seconds from SIGKILL to the trial's FAIL and to its retry's start."""
    storage = pg.fresh()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        args = [
            f"storage={storage}",
            "n_trials=4",
            "n_jobs=2",
            "toy.sleep=3",
            f"heartbeat_interval={hb}",
            f"grace_period={grace}",
        ]
        proc = start_toy(cwd, *args)
        victim = first_running(lambda: load(storage, cwd).trials, lambda t: stamped(t.user_attrs, "pid"))
        time.sleep(0.5)
        if whole:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        else:
            os.kill(int(stamped(victim.user_attrs, "pid")), signal.SIGKILL)
        killed = time.time()
        if whole:
            proc = start_toy(cwd, *args)
        wait_ok(proc)
        return kill_to_retry(load(storage, cwd).trials, victim, killed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--burn", type=int, default=3_000_000)
    ap.add_argument("--no-kill", action="store_true", help="skip the kill-to-retry timings")
    a = ap.parse_args()
    pg = Postgres()
    try:
        print(f"toy.burn={a.burn}, {a.trials} trials, random sampler, {os.cpu_count()} cores")
        print(f"{'workers':>7} {'invocations':>11} {'storage':>10} {'trials/s':>9} {'wall s':>7}")
        for workers in (1, 2, 4):
            for label, storage in (("journal", None), ("postgresql", pg.fresh())):
                tps, wall = throughput(storage, workers, a.trials, a.burn)
                print(
                    f"{workers:>7} {len(LAYOUTS[workers]):>11} {label:>10} {tps:>9.2f} {wall:>7.1f}",
                    flush=True,
                )
        if not a.no_kill:
            print("\nkill-to-retry on PostgreSQL (seconds after SIGKILL: trial failed / retry started)")
            for whole, hb, grace, what in (
                (False, 1, 3, "one worker killed (pid seen dead by its parent)"),
                (True, 1, 3, "whole invocation killed, resumed; heartbeat 1 s, grace 3 s"),
                (True, 10, 30, "whole invocation killed, resumed; defaults 10 s / 30 s"),
            ):
                fail, retry = kill_latency(pg, whole, hb, grace)
                print(f"  {what}: {fail:.1f} / {retry:.1f}", flush=True)
    finally:
        pg.close()


if __name__ == "__main__":
    main()
