"""Fault injection: a study under random kills, damaged journals and a locked MLflow store.

Each round grows the test study ``toy`` (tests/conf) by a few trials in one working
directory, with faults drawn at random:

- the journal's last line cut (mid-record, with or without its newline) before the run;
- the MLflow SQLite store held under an exclusive lock for a few seconds during the run;
- one worker process SIGKILLed mid-search, or the whole invocation (parent and workers)
  SIGKILLed, then the same command run again until it finishes.

After each round it checks what an operator relies on: Optuna's own loader reads the journal;
the study holds exactly the trials asked for (COMPLETE, none twice); every completed trial
has a finished MLflow run (else it is *lost*); no MLflow run is left RUNNING; best.yaml and
best.json parse. A round failing any check but the lost count is *broken*. It ends with

    chaos_rounds=<n> lost=<trials> broken=<rounds>

and exits 1 unless both are 0.

    python benchmarks/bench_chaos.py [--rounds 20] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from toy_study import start_toy, toy_env

ROOT = Path(__file__).resolve().parent.parent
TRIALS_PER_ROUND = 3


def _start(work: Path, n_trials: int) -> subprocess.Popen:
    env = toy_env(GIT_PYTHON_REFRESH="quiet")
    return start_toy(work, f"n_trials={n_trials}", "n_jobs=2", "toy.sleep=0.3", env=env)


def _children(pid: int) -> list[int]:
    """Descendant process ids of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def _cut_journal(journal: Path, rng: random.Random) -> str:
    if not journal.exists() or journal.stat().st_size == 0:
        return "none"
    lines = journal.read_bytes().splitlines(keepends=True)
    keep_newline = rng.random() < 0.5
    last = lines[-1][: max(1, len(lines[-1]) // 2)]
    lines[-1] = last + (b"\n" if keep_newline else b"")
    journal.write_bytes(b"".join(lines))
    return "cut+newline" if keep_newline else "cut"


def _lock_mlflow(db: Path, seconds: float) -> threading.Thread:
    def hold() -> None:
        try:
            con = sqlite3.connect(str(db), timeout=30, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            con.execute("ROLLBACK")
            con.close()
        except sqlite3.Error:
            pass

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    return t


def _run_round(work: Path, n_trials: int, rng: random.Random) -> tuple[list[str], str]:
    faults = []
    journal = work / "mlruns" / "optuna" / "toy.journal"
    if rng.random() < 0.4:
        faults.append(_cut_journal(journal, rng))
    proc = _start(work, n_trials)
    db = work / "mlruns" / "mlflow.db"
    if db.exists() and rng.random() < 0.3:
        time.sleep(rng.uniform(0.5, 3.0))
        _lock_mlflow(db, rng.uniform(1.0, 4.0))
        faults.append("mlflow-locked")
    kill = rng.choice(["none", "worker", "invocation"])
    if kill != "none":
        time.sleep(rng.uniform(1.0, 6.0))
        if proc.poll() is None:
            if kill == "worker":
                kids = [p for p in _children(proc.pid)]
                if kids:
                    os.kill(rng.choice(kids), signal.SIGKILL)
                    faults.append("kill-worker")
            else:
                os.killpg(proc.pid, signal.SIGKILL)
                faults.append("kill-invocation")
    out, _ = proc.communicate(timeout=600)
    log = out
    attempts = 0
    while proc.returncode != 0 and attempts < 3:  # the operator runs the same command again
        attempts += 1
        proc = _start(work, n_trials)
        out, _ = proc.communicate(timeout=600)
        log += f"\n--- rerun {attempts} (exit {proc.returncode})\n" + out
    return faults, log if proc.returncode != 0 else ""


def _check(work: Path, n_trials: int) -> tuple[int, list[str]]:
    """``(lost trials, problems)`` of the study after a round."""
    import optuna
    from mlflow import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    problems = []
    try:
        storage = JournalStorage(JournalFileBackend(str(work / "mlruns" / "optuna" / "toy.journal")))
        trials = optuna.load_study(study_name="toy", storage=storage).trials
    except Exception as exc:  # noqa: BLE001 - any failure here is what the script looks for
        return 0, [f"journal unloadable: {type(exc).__name__}: {exc}"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if len(complete) != n_trials:
        problems.append(f"{len(complete)} COMPLETE trials, expected {n_trials}")
    running = [t.number for t in trials if t.state.name == "RUNNING"]
    if running:
        problems.append(f"trials left RUNNING: {running}")
    client = MlflowClient(f"sqlite:///{work}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("toy")
    runs = client.search_runs([exp.experiment_id], max_results=10000) if exp else []
    left = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    if left:
        problems.append(f"{len(left)} MLflow run(s) left RUNNING")
    logged = {
        int(r.data.tags["hedgeopt.trial_number"])
        for r in runs
        if r.data.tags.get("hedgeopt.role") == "trial" and r.info.status == "FINISHED"
    }
    lost = sum(t.number not in logged for t in complete)
    for name, load in (("best.yaml", yaml.safe_load), ("best.json", json.loads)):
        try:
            doc = load((work / "exports" / "toy" / name).read_text())
            if doc["metadata"]["n_trials"]["COMPLETE"] != n_trials:
                problems.append(f"{name} counts {doc['metadata']['n_trials']}, expected {n_trials}")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{name} unparseable: {type(exc).__name__}: {exc}")
    return lost, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="working directory to keep")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    base = args.keep or Path(tempfile.mkdtemp(prefix="hedgeopt-chaos-"))
    base.mkdir(parents=True, exist_ok=True)
    lost_total, broken = 0, 0
    t0 = time.perf_counter()
    for i in range(args.rounds):
        n_trials = TRIALS_PER_ROUND * (i + 1)
        t = time.perf_counter()
        faults, log = _run_round(base, n_trials, rng)
        lost, problems = _check(base, n_trials)
        lost_total += lost
        broken += bool(problems)
        status = "ok" if not problems and not lost else f"lost={lost} " + "; ".join(problems)
        print(
            f"round {i + 1:2d}: n_trials={n_trials:3d} faults={','.join(faults) or 'none'} "
            f"{time.perf_counter() - t:5.1f}s {status}",
            flush=True,
        )
        if problems and log:
            print(log[-2000:], flush=True)
    print(f"wall {time.perf_counter() - t0:.0f}s; load average {os.getloadavg()[0]:.2f}; dir {base}")
    print(f"chaos_rounds={args.rounds} lost={lost_total} broken={broken}")
    return 0 if lost_total == 0 and broken == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
