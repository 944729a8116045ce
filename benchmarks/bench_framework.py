"""Framework throughput: how fast hedgeopt runs, logs and counts trials.

1. 200 trials of a ~1 ms objective (the test study's toy bowl with toy.sleep=0.001), MLflow on,
   n_jobs=2: ``trials_per_s`` over the search phase (workers started to the last trial logged in
   MLflow, as the runner records it in ``search_seconds``), beside the same 200 trials in a bare in-process
   ``optuna.Study.optimize`` (no
   storage, no MLflow, no processes) as the reference.
2. A CPU-bound objective (toy.burn: a pure-Python loop, about 0.8 s a trial) at n_jobs=1 and
   n_jobs=2 in the same run: ``parallel_speedup`` = search-phase time at 1 worker / at 2 workers.

Run: python benchmarks/bench_framework.py   (about 1-2 minutes on 2 cores)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(
    os.environ,
    PYTHONPATH=str(ROOT / "tests" / "support"),
    HEDGEOPT_CONFIG_PATH=str(ROOT / "tests" / "conf"),
    MLFLOW_LOGGING_LEVEL="WARNING",
)


def run(cwd: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hedgeopt", "+study=toy", "progress=false", *args],
        cwd=cwd,
        env=ENV,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def search_phase(cwd: Path, study: str = "toy") -> tuple[int, float]:
    """(trial runs in MLflow, seconds of the search phase).

    The search phase is what the runner logs as ``search_seconds``: from starting the workers
    to the last trial logged in MLflow by the parent (so MLflow's cost is inside); start-up,
    scoring the best config out-of-sample, baselines, plots and the export are outside.
    """
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'trial'", max_results=5000)
    parent = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'study'")[0]
    return len(runs), parent.data.metrics["search_seconds"]


def bare_optuna(n: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("toy.x", -5, 5)
        n_ = trial.suggest_int("toy.n", 1, 10)
        kind = trial.suggest_categorical("toy.kind", ["a", "b"])
        time.sleep(0.001)
        return (x - 1) ** 2 + 0.1 * (n_ - 3) ** 2 + (0.5 if kind == "b" else 0.0)

    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return n / (time.perf_counter() - t0)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast = Path(tmp) / "fast"
        fast.mkdir()
        wall = run(fast, "n_trials=200", "n_jobs=2", "toy.sleep=0.001")
        n, secs = search_phase(fast)
        print(
            f"1 ms objective, {n} trials, n_jobs=2, MLflow on: search phase {secs:.2f} s, "
            f"whole invocation {wall:.2f} s (start-up, export, plots included)"
        )
        print(f"trials_per_s={n / secs:.2f}")
        print(
            f"reference: bare in-process optuna, no storage or MLflow: "
            f"bare_optuna_trials_per_s={bare_optuna(200):.2f}"
        )

        times = {}
        for jobs in (1, 2):
            d = Path(tmp) / f"cpu{jobs}"
            d.mkdir()
            wall = run(d, "n_trials=16", f"n_jobs={jobs}", "toy.burn=10000000")
            n, secs = search_phase(d)
            times[jobs] = secs
            print(
                f"CPU-bound objective, {n} trials, n_jobs={jobs}: search phase {secs:.2f} s "
                f"({secs / n:.3f} s a trial), whole invocation {wall:.2f} s"
            )
        print(f"parallel_speedup={times[1] / times[2]:.3f}")


if __name__ == "__main__":
    main()
