"""Fixed costs: where the default study's wall time goes, and trials a second through MLflow.

1. ``python -m hedgeopt +study=delta_hedge`` (the default study, 100 trials, n_jobs=-1) in a
   fresh working directory, its parent's timeline cut into phases by the runner
   (``HEDGEOPT_PHASES``): one line per phase with its wall seconds and the CPU seconds of the
   whole process tree meanwhile, what each end-of-study task took inside its worker, and
   ``default_study_s`` (the whole command, interpreter start to exit). A warm-up invocation
   first fills numba's on-disk cache and hedgeopt's empty MLflow store template, as any earlier
   run on the machine has. What one worker's set-up costs (imports, compiled kernels loaded
   from the cache, the in-sample paths) is measured in a fresh process of its own: the runner
   overlaps it with the MLflow set-up.
2. 200 trials of a 1 ms objective (the test study's toy bowl, toy.sleep=0.001), MLflow on,
   n_jobs=2: ``trials_per_s`` over the search phase (workers started to the last trial logged),
   beside Optuna's own ``MLflowCallback`` (optuna-integration; one process, a nested run per
   trial) on the same objective and the same SQLite tracking store: ``peer_trials_per_s``.

``--reference DIR`` runs both with another checkout of hedgeopt (e.g. a worktree of the
commit before these changes) in the same run, for ratios that hold under a loaded machine.
The machine's load average is printed beside each part: timings on a shared machine are
inflated by whatever else runs.

Run: python benchmarks/bench_overhead.py [--reference DIR]   (about 1-2 minutes on 2 idle cores)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from toy_study import toy_bowl, toy_env

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def env_for(code: Path, toy: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a run of checkout ``code`` alone; ``toy``: with that checkout's own test
    study (a toy objective written against its own protocol)."""
    if toy:
        return toy_env(code, inherit=False, **extra)
    return dict(os.environ, PYTHONPATH=str(code), MLFLOW_LOGGING_LEVEL="WARNING", **extra)


def invoke(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """Run the CLI; ``(wall seconds, CPU seconds of it and its children)``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "hedgeopt", "progress=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"hedgeopt failed ({r.returncode}):\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


SETUP = """
import time, json
t0 = time.perf_counter()
import numpy, numba
from hedgeopt.config.compose import compose
from hydra.utils import get_class
cfg = compose(["+study=delta_hedge"])
cls = get_class(cfg["objective"]["_target_"])
try:
    from hedgeopt.execution.objective_builder import domain_config, study_context
    args = (domain_config(cfg), study_context(cfg))
except ImportError:  # a reference checkout from before objectives got their domain config only
    args = (cfg,)
t1 = time.perf_counter()
from simulators.markets.crypto_perp import CryptoPerpParams, simulate_paths
simulate_paths(CryptoPerpParams.from_config(cfg["simulator"]), 2, 1)
t2 = time.perf_counter()
cls(*args)
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "kernels": t2 - t1, "in_sample": t3 - t2}))
"""


def default_study(tmp: Path, code: Path, label: str) -> float:
    env = env_for(code, HEDGEOPT_CACHE_DIR=str(tmp / "cache"))
    warm = tmp / f"{label}-warm"
    warm.mkdir()
    invoke(warm, env, "+study=delta_hedge", "n_trials=4")
    work = tmp / label
    work.mkdir()
    phases_file = tmp / f"{label}-phases.json"
    print(f"[{label}] default study, {load()}")
    wall, cpu = invoke(work, dict(env, HEDGEOPT_PHASES=str(phases_file)), "+study=delta_hedge")
    if phases_file.is_file():
        doc = json.loads(phases_file.read_text())
        total_w = total_c = 0.0
        for p in doc["phases"]:
            total_w += p["wall_s"]
            total_c += p["cpu_s"]
            print(f"  phase {p['phase']:<40} wall {p['wall_s']:6.2f} s  cpu {p['cpu_s']:6.2f} s")
        print(
            f"  phase {'exit (workers stopped, interpreter)':<40} wall {wall - total_w:6.2f} s  "
            f"cpu {max(0.0, cpu - total_c):6.2f} s"
        )
        for name, secs in doc.get("details", {}).items():
            print(f"    inside a {name:<30} {secs:6.2f} s")
        r = subprocess.run(
            [sys.executable, "-c", SETUP], env=env, capture_output=True, text=True, check=True, cwd=tmp
        )
        s = json.loads(r.stdout.strip().splitlines()[-1])
        print(
            f"  one worker's set-up in a fresh process: imports {s['imports']:.2f} s, kernels "
            f"from numba's cache {s['kernels']:.2f} s, in-sample paths {s['in_sample']:.2f} s"
        )
    print(f"  whole invocation: wall {wall:.2f} s, CPU {cpu:.2f} s (parent and workers), {load()}")
    return wall


def search_phase(cwd: Path, study: str) -> tuple[int, float]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'trial'", max_results=5000)
    parent = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'study'")[0]
    return len(runs), parent.data.metrics["search_seconds"]


def throughput(tmp: Path, code: Path, label: str, n: int) -> tuple[float, Path]:
    work = tmp / f"{label}-fast"
    work.mkdir()
    env = env_for(code, toy=True, HEDGEOPT_CACHE_DIR=str(tmp / "cache"))
    wall, _ = invoke(work, env, "+study=toy", f"n_trials={n}", "n_jobs=2", "toy.sleep=0.001")
    logged, secs = search_phase(work, "toy")
    print(
        f"[{label}] 1 ms objective, {logged} trials in MLflow, n_jobs=2: search phase {secs:.2f} s, "
        f"whole invocation {wall:.2f} s, {load()}"
    )
    return logged / secs, work


def peer(store: Path, n: int) -> float:
    """Optuna's MLflowCallback: one process, in-memory study, a nested MLflow run per trial."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # as hedgeopt runs MLflow
    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uri = f"sqlite:///{store}"
    mlflow.set_tracking_uri(uri)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_experiment("peer")

    warnings.simplefilter("ignore", FutureWarning)  # "deprecated in v4.9.0", still Optuna's own
    callback = MLflowCallback(
        tracking_uri=uri, metric_name="loss", create_experiment=False, mlflow_kwargs={"nested": True}
    )
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    )
    with mlflow.start_run(run_name="peer"):
        t0 = time.perf_counter()
        study.optimize(toy_bowl, n_trials=n, callbacks=[callback])
        secs = time.perf_counter() - t0
    print(f"[peer] Optuna MLflowCallback, {n} trials, one process, same SQLite store: {secs:.2f} s, {load()}")
    return n / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, help="another hedgeopt checkout to time in the same run")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--only", choices=["study", "throughput"], help="run one part only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only != "throughput":
            wall = default_study(tmp, ROOT, "this")
            if args.reference:
                ref = default_study(tmp, args.reference.resolve(), "reference")
                print(f"reference_default_study_s={ref:.2f}  (ratio {ref / wall:.2f}x)")
            print(f"default_study_s={wall:.2f}")
        if args.only == "study":
            return

        rate, work = throughput(tmp, ROOT, "this", args.trials)
        if args.reference:
            ref_rate, _ = throughput(tmp, args.reference.resolve(), "reference", args.trials)
            print(f"reference_trials_per_s={ref_rate:.2f}  (ratio {rate / ref_rate:.2f}x)")
        peer_rate = peer(work / "mlruns" / "mlflow.db", args.trials)
        print(f"trials_per_s={rate:.2f}")
        print(f"peer_trials_per_s={peer_rate:.2f}  (ratio {rate / peer_rate:.2f}x)")


if __name__ == "__main__":
    main()
