"""The cost of deterministic mode: search-phase time of the same study, asynchronous and batched.

20 trials of the test study's toy bowl, each sleeping ``--sleep`` seconds (default 0.2), on
n_jobs=2, run three times in the same run: once in the default asynchronous mode (the
reference) and twice with ``deterministic=true``. Prints ``search_seconds`` of each (workers
started to the last trial logged in MLflow), the ideal ``n_trials x sleep / n_jobs``, and
whether the two deterministic runs found the same trials. With equal trial times the cost is
the per-batch hand-over (the parent asks, the workers tell); with unequal ones each batch also
waits for its slowest trial.

Run: python benchmarks/bench_deterministic.py   (about 1-2 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from toy_study import run_toy


def run(cwd: Path, *args: str) -> tuple[float, list[tuple]]:
    """(search seconds, [(params, values)] of every trial) of one invocation in ``cwd``."""
    run_toy(cwd, *args)
    import optuna
    from mlflow import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("toy")
    parent = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'study'")[0]
    storage = JournalStorage(JournalFileBackend(str(cwd / "mlruns" / "optuna" / "toy.journal")))
    trials = optuna.load_study(study_name="toy", storage=storage).trials
    return parent.data.metrics["search_seconds"], [(t.params, t.values) for t in trials]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sleep", type=float, default=0.2)
    ap.add_argument("--n-trials", type=int, default=20)
    a = ap.parse_args()
    common = (f"n_trials={a.n_trials}", "n_jobs=2", f"toy.sleep={a.sleep}", "sampler.n_startup_trials=6")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (
            ("asynchronous (reference)", "deterministic=false"),
            ("deterministic, run 1", "deterministic=true"),
            ("deterministic, run 2", "deterministic=true"),
        ):
            cwd = Path(tmp) / label.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
            cwd.mkdir()
            out[label] = run(cwd, *common, extra)
    ideal = a.n_trials * a.sleep / 2
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")
    print(f"ideal search time {ideal:.2f} s ({a.n_trials} trials x {a.sleep} s / 2 workers)")
    for label, (seconds, _) in out.items():
        print(f"{label:26s} search_seconds {seconds:6.2f}  ({seconds / ideal:.2f} x ideal)")
    same = out["deterministic, run 1"][1] == out["deterministic, run 2"][1]
    print(f"deterministic runs found the same trials: {same}")
    slow = out["deterministic, run 1"][0] / out["asynchronous (reference)"][0]
    print(f"deterministic_cost (search time, deterministic / asynchronous): {slow:.2f}")


if __name__ == "__main__":
    main()
