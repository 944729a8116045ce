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

import tempfile
import time
from pathlib import Path

from toy_study import run_toy, toy_bowl


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

    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    )
    t0 = time.perf_counter()
    study.optimize(toy_bowl, n_trials=n)
    return n / (time.perf_counter() - t0)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast = Path(tmp) / "fast"
        fast.mkdir()
        wall = run_toy(fast, "n_trials=200", "n_jobs=2", "toy.sleep=0.001")
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
            wall = run_toy(d, "n_trials=16", f"n_jobs={jobs}", "toy.burn=10000000")
            n, secs = search_phase(d)
            times[jobs] = secs
            print(
                f"CPU-bound objective, {n} trials, n_jobs={jobs}: search phase {secs:.2f} s "
                f"({secs / n:.3f} s a trial), whole invocation {wall:.2f} s"
            )
        print(f"parallel_speedup={times[1] / times[2]:.3f}")


if __name__ == "__main__":
    main()
