"""Which sampler each single-objective study should default to: TPE, GP and random at one budget.

For every study, sampler and seed, one real invocation (``python -m hedgeopt +study=S
sampler=X seed=K n_trials=N``) in a fresh working directory; the figure that matters is the
exported config's **out-of-sample** value of the study's optimised metric (``best.json``,
``performance.out_of_sample``), never the in-sample value the sampler optimised. Seeds pair the
samplers (the same seed draws the same simulated data), so the per-seed differences to random
search are printed too. Each line: the median out-of-sample value over the seeds, its range,
how many seeds the sampler beat random on, the median wall seconds, and the study's current
default (from its study file) beside the sampler this run would pick (best median in the
metric's direction; the study's current default stays unless another sampler beats it on 4 of 5
paired seeds with a better median: see :func:`decide`).

Run: python benchmarks/bench_samplers.py [--studies delta_hedge kalman_hedge] [--seeds 5]
     [--n-trials 40]     (about 1-2 minutes per study and sampler on 2 idle cores)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ["delta_hedge", "delta_hedge_seed", "kalman_hedge", "spread_hedge", "tail_hedge"]
SAMPLERS = ["tpe", "gp", "random"]


def default_sampler(study: str) -> str:
    """The sampler a study's file selects (``- override /sampler: X``), else the framework's."""
    spec = yaml.safe_load((ROOT / "conf" / "study" / f"{study}.yaml").read_text())
    for entry in spec.get("defaults", []):
        if isinstance(entry, dict) and "override /sampler" in entry:
            return str(entry["override /sampler"])
    return "tpe"


def run_once(study: str, sampler: str, seed: int, n_trials: int) -> tuple[float, float, str]:
    """``(out-of-sample value of the first metric, wall seconds, direction)`` of one invocation."""
    with tempfile.TemporaryDirectory(prefix="bench-samplers-") as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT), MLFLOW_LOGGING_LEVEL="WARNING")
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-m", "hedgeopt", f"+study={study}", f"sampler={sampler}", f"seed={seed}",
             f"n_trials={n_trials}", "progress=false"],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{study} sampler={sampler} seed={seed} failed: {r.stderr.strip()[-400:]}")
        doc = json.loads((Path(tmp) / "exports" / study / "best.json").read_text())
    metric, direction = doc["metadata"]["metrics"][0], doc["metadata"]["directions"][0]
    return float(doc["performance"]["out_of_sample"][metric]), wall, direction


#: Paired seeds a sampler must beat the study's current default on to replace it (of 5).
SWITCH_WINS = 4


def decide(
    study: str, results: dict[str, list[tuple[float, float]]], direction: str, seeds: int, n_trials: int
) -> None:
    """Print the per-sampler figures and the default they argue for.

    The seeds pair the samplers (one seed, one simulated data set), so a challenger replaces the
    study's current default only if it beats it on at least ``SWITCH_WINS`` of 5 paired seeds
    and has the better median: with 5 seeds a closer call is noise, and the default stays.
    """
    sign = 1.0 if direction == "minimize" else -1.0  # lower sign*value is better
    medians = {s: statistics.median(v for v, _ in rows) for s, rows in results.items()}
    walls = {s: statistics.median(w for _, w in rows) for s, rows in results.items()}
    current = default_sampler(study)

    def wins(a: str, b: str) -> int:
        pairs = zip((v for v, _ in results[a]), (v for v, _ in results[b]), strict=True)
        return sum(sign * x < sign * y for x, y in pairs)

    print(f"{study} ({direction} the out-of-sample value, {seeds} seeds, {n_trials} trials):")
    for s, rows in results.items():
        values = [v for v, _ in rows]
        vs = [
            f"beats {o} on {wins(s, o)}/{len(values)} seeds"
            for o in ("random", current)
            if o in results and o != s
        ]
        print(
            f"  {s:<7} median {medians[s]:.6g} [range {min(values):.6g}, {max(values):.6g}]"
            f"{'; ' + ', '.join(vs) if vs else ''}; median wall {walls[s]:.1f} s"
        )
    pick = current
    if current in results:
        need = SWITCH_WINS * len(results[current]) / 5
        better = [
            s
            for s in results
            if s != current and wins(s, current) >= need and sign * medians[s] < sign * medians[current]
        ]
        if better:
            pick = min(better, key=lambda s: (sign * medians[s], walls[s]))
    print(f"  default (study file): {current}; this run picks: {pick}")


def from_log(path: str) -> None:
    """Decide again from an earlier run's printed per-seed lines (``--log``)."""
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
    direction: dict[str, str] = {}
    n_trials, seeds = 0, 0
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if line.startswith("bench_samplers:"):
            n_trials = int(parts[1].removeprefix("n_trials=").rstrip(","))
        elif len(parts) == 8 and parts[2].startswith("seed=") and parts[3] == "out-of-sample":
            rows.setdefault(parts[0], {}).setdefault(parts[1], []).append((float(parts[4]), float(parts[6])))
            seeds = max(seeds, int(parts[2].removeprefix("seed=").rstrip(":")) + 1)
        elif line.endswith("trials):") and not line.startswith(" "):
            direction[parts[0]] = parts[1].lstrip("(")
    for study, results in rows.items():
        if study in direction:  # a study whose run finished
            decide(study, results, direction[study], seeds, n_trials)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", nargs="+", default=STUDIES)
    ap.add_argument("--samplers", nargs="+", default=SAMPLERS)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-trials", type=int, default=40)
    ap.add_argument("--log", help="decide again from an earlier run's output; runs nothing")
    args = ap.parse_args()
    if args.log:
        from_log(args.log)
        return
    load = os.getloadavg()[0]
    print(f"bench_samplers: n_trials={args.n_trials}, seeds 0..{args.seeds - 1}, load {load:.2f}")
    for study in args.studies:
        results: dict[str, list[tuple[float, float]]] = {}
        direction = "minimize"
        for sampler in args.samplers:
            for seed in range(args.seeds):
                value, wall, direction = run_once(study, sampler, seed, args.n_trials)
                results.setdefault(sampler, []).append((value, wall))
                line = f"  {study} {sampler} seed={seed}: out-of-sample {value:.6g} in {wall:.1f} s"
                print(line, flush=True)
        decide(study, results, direction, args.seeds, args.n_trials)


if __name__ == "__main__":
    main()
