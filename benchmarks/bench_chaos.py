"""Fault injection: a study under kills, damaged journals, a locked or dead MLflow store.

One working directory holds the test study ``toy`` (tests/conf, sleep trials). A first clean
step creates it; then each round runs one step per fault in ``--faults`` (all by default), and
each step grows the study by a few trials while injecting its fault:

- ``cut-before``: the journal's last line cut (mid-record, with or without its newline) before
  the run;
- ``mlflow-lock``: the MLflow SQLite store held under an exclusive lock for a few seconds;
- ``kill-worker``: one worker process SIGKILLed mid-search;
- ``kill-invocation``: the whole invocation (parent and workers) SIGKILLed mid-search;
- ``concurrent-resume``: the invocation SIGKILLed, then two invocations resuming it at once;
- ``cut-live``: a record cut mid-line under the journal's write lock while the study writes
  (a writer that died holding the lock, or a full disk: what
  :mod:`hedgeopt.storages.journal_repair` expects);
- ``kill-parent``: the parent alone SIGKILLed; its workers must all exit within
  ``ORPHAN_WAIT_S`` (psutil, by session), else they are *orphans*;
- ``server-death``: the study logs to a local ``mlflow server`` (on the same SQLite store),
  killed mid-study: the invocation must end in one line within ``SERVER_DEATH_WAIT_S``.

After a fault the operator's move follows: the same command run again until it exits 0 (for
``server-death`` once the server is back). Then the checks: the storage opens (hedgeopt's
opening, which repairs, then Optuna's own loader); the study holds exactly the trials asked for
(COMPLETE), none left RUNNING; every COMPLETE trial has exactly one finished MLflow run (else
*lost*), no trial has two runs (*doubled*), no run is left RUNNING; best.yaml, best.json and
overlay.yaml parse and name the same trial and params. A step failing a check other than
lost/doubled is *broken*. It prints one line per step, a table per fault and ends with

    rounds=<n> lost=<trials> doubled=<trials> broken=<steps>

exiting 1 unless all three are 0.

    python benchmarks/bench_chaos.py [--rounds 20] [--faults a,b] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil
import yaml
from toy_study import start_toy, toy_env

ROOT = Path(__file__).resolve().parent.parent
TRIALS_PER_STEP = 4
ORPHAN_WAIT_S = 10.0
SERVER_DEATH_WAIT_S = 45.0  # the issue's ~30 s, plus this machine's start-up under load
RERUNS = 3


class Step:
    """One step's invocations in the working directory ``work``, growing the study to ``n``."""

    def __init__(self, work: Path, n: int, rng: random.Random, uri: str | None = None) -> None:
        self.work, self.n, self.rng, self.uri = work, n, rng, uri
        self.notes: list[str] = []
        self.failed_log = ""
        self.journal = work / "mlruns" / "optuna" / "toy.journal"

    def start(self) -> subprocess.Popen:
        extra = [f"mlflow.tracking_uri={self.uri}"] if self.uri else []
        env = toy_env(GIT_PYTHON_REFRESH="quiet")
        return start_toy(self.work, f"n_trials={self.n}", "n_jobs=2", "toy.sleep=0.4", *extra, env=env)

    def completes(self) -> int:
        """COMPLETE states written to the journal so far (a cheap trigger, not a check)."""
        try:
            return self.journal.read_bytes().count(b'"state":1')
        except OSError:
            return 0

    def mid_search(self, proc: subprocess.Popen, timeout: float = 120) -> bool:
        """Wait until ``proc`` has completed a trial (True), or ended (False)."""
        before, deadline = self.completes(), time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            if self.completes() > before:
                time.sleep(self.rng.uniform(0.0, 0.5))
                return proc.poll() is None
            time.sleep(0.1)
        return False

    def finish(self, proc: subprocess.Popen) -> None:
        """Wait for ``proc``; rerun the command until it exits 0."""
        out, _ = proc.communicate(timeout=600)
        self.until_ok(proc.returncode, out)

    def until_ok(self, code: int, out: str) -> None:
        """After an invocation that exited ``code``: the same command again until it exits 0."""
        first = out
        for attempt in range(1, RERUNS + 1):
            if code == 0:
                return
            self.notes.append(f"rerun{attempt}")
            proc = self.start()
            out, _ = proc.communicate(timeout=600)
            code = proc.returncode
        if code != 0:
            self.failed_log = first + f"\n--- last rerun (exit {code})\n" + out


def _cut_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.splitlines(keepends=True)
    return lines[-1][: rng.randint(1, max(1, len(lines[-1]) - 2))]


def fault_none(s: Step) -> None:
    s.finish(s.start())


def fault_cut_before(s: Step) -> None:
    if s.journal.exists() and s.journal.stat().st_size:
        data = s.journal.read_bytes()
        newline = s.rng.random() < 0.5
        keep = data[: len(data) - len(data.splitlines(keepends=True)[-1])]
        s.journal.write_bytes(keep + _cut_line(data, s.rng) + (b"\n" if newline else b""))
        s.notes.append("newline" if newline else "no-newline")
    s.finish(s.start())


def fault_mlflow_lock(s: Step) -> None:
    proc = s.start()
    if s.mid_search(proc):
        seconds = s.rng.uniform(1.0, 4.0)

        def hold() -> None:
            try:
                con = sqlite3.connect(str(s.work / "mlruns" / "mlflow.db"), timeout=30, isolation_level=None)
                con.execute("BEGIN EXCLUSIVE")
                time.sleep(seconds)
                con.execute("ROLLBACK")
                con.close()
            except sqlite3.Error:
                pass

        threading.Thread(target=hold, daemon=True).start()
    s.finish(proc)


def fault_kill_worker(s: Step) -> None:
    proc = s.start()
    if s.mid_search(proc):
        kids = psutil.Process(proc.pid).children(recursive=True)
        if kids:
            s.rng.choice(kids).send_signal(signal.SIGKILL)
    s.finish(proc)


def fault_kill_invocation(s: Step) -> None:
    proc = s.start()
    if s.mid_search(proc):
        os.killpg(proc.pid, signal.SIGKILL)
    s.finish(proc)


def fault_concurrent_resume(s: Step) -> None:
    proc = s.start()
    if s.mid_search(proc):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=600)
    pair = [s.start(), s.start()]  # two operators resume the killed study at the same time
    outs = [p.communicate(timeout=600)[0] for p in pair]
    codes = [p.returncode for p in pair]
    s.notes.append("exits=" + "/".join(map(str, codes)))
    bad = next((o for p, o in zip(pair, outs, strict=True) if p.returncode != 0), None)
    if bad is not None:
        s.notes.append("last: " + bad.strip().splitlines()[-1][:120])
        s.until_ok(1, bad)


def fault_cut_live(s: Step) -> None:
    from optuna.storages.journal._file import get_lock_file

    from hedgeopt.storages.journal_io import QueuedJournalLock

    proc = s.start()
    if s.mid_search(proc):
        with get_lock_file(QueuedJournalLock(str(s.journal))):  # a writer that dies holding it
            with open(s.journal, "ab") as f:
                f.write(_cut_line(s.journal.read_bytes(), s.rng))
    s.finish(proc)


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (OSError, psutil.Error):
            continue
    return out


def fault_kill_parent(s: Step) -> None:
    proc = s.start()
    if s.mid_search(proc):
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as the OOM killer does
        proc.wait()
        t0 = time.time()
        left = _session(proc.pid)
        while left and time.time() - t0 < ORPHAN_WAIT_S:
            time.sleep(0.2)
            left = _session(proc.pid)
        s.notes.append(f"workers gone in {time.time() - t0:.1f}s")
        if left:
            s.notes.append(f"ORPHANS={len(left)}")
            for p in left:
                p.kill()
    s.finish(proc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mlflow_server(work: Path, port: int) -> subprocess.Popen:
    db = f"sqlite:///{work}/mlruns/mlflow.db"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", db, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--no-serve-artifacts"]
    cmd += ["--default-artifact-root", str(work / "mlruns" / "artifacts")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("mlflow server did not start")


def fault_server_death(s: Step) -> None:
    port = _free_port()
    s.uri = f"http://127.0.0.1:{port}"
    server = _mlflow_server(s.work, port)
    try:
        proc = s.start()
        if not s.mid_search(proc):
            s.finish(proc)
            return
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        t0 = time.time()
        try:
            out, _ = proc.communicate(timeout=SERVER_DEATH_WAIT_S)
            lines = [ln for ln in out.splitlines() if ln.strip()]
            s.notes.append(f"exit {proc.returncode} in {time.time() - t0:.0f}s")
            if proc.returncode and ("Traceback" in out or not lines):
                s.notes.append("NOT-ONE-LINE: " + (lines[-1][:120] if lines else "no output"))
            elif proc.returncode:
                s.notes.append("line: " + lines[-1][:140])
        except subprocess.TimeoutExpired:
            s.notes.append(f"HANG>{SERVER_DEATH_WAIT_S:.0f}s")
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
        server = _mlflow_server(s.work, port)  # the operator brings it back and reruns
        s.until_ok(proc.returncode or 1, out)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


FAULTS: dict[str, Callable[[Step], None]] = {
    "cut-before": fault_cut_before,
    "mlflow-lock": fault_mlflow_lock,
    "kill-worker": fault_kill_worker,
    "kill-invocation": fault_kill_invocation,
    "concurrent-resume": fault_concurrent_resume,
    "cut-live": fault_cut_live,
    "kill-parent": fault_kill_parent,
    "server-death": fault_server_death,
}
#: Notes that make a step broken although the study's data is whole.
BREAKING_NOTES = ("ORPHANS", "HANG", "NOT-ONE-LINE")


def _exports_agree(work: Path, n: int, best: int | None) -> list[str]:
    problems, docs = [], {}
    folder = work / "exports" / "toy"
    for name, load in (
        ("best.yaml", yaml.safe_load),
        ("best.json", json.loads),
        ("overlay.yaml", yaml.safe_load),
    ):
        try:
            docs[name] = load((folder / name).read_text())
        except Exception as exc:  # noqa: BLE001 - any failure here is what the script looks for
            problems.append(f"{name} unparseable: {type(exc).__name__}: {exc}")
    if problems:
        return problems
    meta = [docs[k].pop("metadata") for k in ("best.yaml", "best.json")]
    if meta[0]["best_trial"] != meta[1]["best_trial"] or meta[1]["best_trial"] != best:
        problems.append(
            f"best trial: yaml {meta[0]['best_trial']}, json {meta[1]['best_trial']}, study {best}"
        )
    if meta[1]["n_trials"]["COMPLETE"] != n:
        problems.append(f"best.json counts {meta[1]['n_trials']}, expected {n}")
    params = {k: v for k, v in docs["best.json"].items() if k != "performance"}
    if docs["best.yaml"] != docs["best.json"] or docs["overlay.yaml"] != params:
        problems.append("best.yaml, best.json and overlay.yaml disagree on the params")
    return problems


def check(work: Path, n: int) -> tuple[int, int, list[str]]:
    """``(lost trials, doubled trials, problems)`` of the study after a step."""
    import optuna
    from mlflow import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from hedgeopt.storages.opening import open_storage, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    journal = work / "mlruns" / "optuna" / "toy.journal"
    try:  # what the next invocation does (it repairs), then Optuna's own reader
        optuna.load_study(
            study_name="toy", storage=open_storage(resolve_storage(None, "toy", workdir=work / "mlruns"))
        )
        study = optuna.load_study(study_name="toy", storage=JournalStorage(JournalFileBackend(str(journal))))
        trials = study.trials
    except Exception as exc:  # noqa: BLE001
        return 0, 0, [f"storage unloadable: {type(exc).__name__}: {exc}"]
    problems = []
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if len(complete) != n:
        problems.append(f"{len(complete)} COMPLETE trials, expected {n}")
    running = [t.number for t in trials if t.state.name == "RUNNING"]
    if running:
        problems.append(f"trials left RUNNING: {running}")
    client = MlflowClient(f"sqlite:///{work}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("toy")
    runs = client.search_runs([exp.experiment_id], max_results=50000) if exp else []
    if left := [r for r in runs if r.info.status == "RUNNING"]:
        problems.append(f"{len(left)} MLflow run(s) left RUNNING")
    per_trial = Counter(
        int(r.data.tags["hedgeopt.trial_number"]) for r in runs if r.data.tags.get("hedgeopt.role") == "trial"
    )
    finished = {
        int(r.data.tags["hedgeopt.trial_number"])
        for r in runs
        if r.data.tags.get("hedgeopt.role") == "trial" and r.info.status == "FINISHED"
    }
    lost = sum(t.number not in finished for t in complete)
    doubled = sum(c > 1 for c in per_trial.values())
    best = study.best_trial.number if complete else None
    return lost, doubled, problems + _exports_agree(work, n, best)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="working directory to keep")
    args = ap.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    if unknown := [f for f in faults if f not in FAULTS]:
        ap.error(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    rng = random.Random(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="hedgeopt-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    table = {f: Counter() for f in faults}
    totals = Counter()
    t_start, n = time.perf_counter(), TRIALS_PER_STEP
    fault_none(Step(work, n, rng))  # the study and its experiment exist before any fault
    for r in range(1, args.rounds + 1):
        t_round = time.perf_counter()
        for fault in faults:
            n += TRIALS_PER_STEP
            step, t = Step(work, n, rng), time.perf_counter()
            FAULTS[fault](step)
            lost, doubled, problems = check(work, n)
            problems += [note for note in step.notes if note.startswith(BREAKING_NOTES)]
            secs = time.perf_counter() - t
            row = table[fault]
            row.update(steps=1, lost=lost, doubled=doubled, broken=int(bool(problems)), secs=secs)
            totals.update(lost=lost, doubled=doubled, broken=int(bool(problems)))
            status = (
                "ok"
                if not (problems or lost or doubled)
                else f"lost={lost} doubled={doubled} " + "; ".join(problems)
            )
            print(
                f"round {r:2d} {fault:17s} n_trials={n:4d} {secs:5.1f}s [{' '.join(step.notes)}] {status}",
                flush=True,
            )
            if problems and step.failed_log:
                print(step.failed_log[-2000:], flush=True)
        print(f"round {r:2d}: {time.perf_counter() - t_round:.0f}s", flush=True)
    print(f"{'fault':17s} steps lost doubled broken  s/step")
    for fault, row in table.items():
        per = row["secs"] / max(1, row["steps"])
        print(
            f"{fault:17s} {row['steps']:5d} {row['lost']:4d} {row['doubled']:7d} {row['broken']:6d}"
            f" {per:7.1f}"
        )
    print(f"wall {time.perf_counter() - t_start:.0f}s; load average {os.getloadavg()[0]:.2f}; dir {work}")
    print(f"rounds={args.rounds} lost={totals['lost']} doubled={totals['doubled']} broken={totals['broken']}")
    return 0 if not (totals["lost"] or totals["doubled"] or totals["broken"]) else 1


if __name__ == "__main__":
    sys.exit(main())
