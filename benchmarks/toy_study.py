"""The test study ``toy`` (tests/conf, tests/support) as the benchmarks run it, in one place.

Benchmarks that time the framework rather than a hedging study run ``python -m hedgeopt
+study=toy`` in a scratch folder, or the same bowl as a bare Optuna objective for a peer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def toy_env(code: Path = ROOT, inherit: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a toy run with checkout ``code``'s own test study and toy objective.

    ``inherit``: keep the caller's PYTHONPATH after ``code`` (off to time one checkout alone).
    """
    paths = [str(code / "tests" / "support"), str(code)]
    if inherit:
        paths.append(os.environ.get("PYTHONPATH", ""))
    env = dict(os.environ, MLFLOW_LOGGING_LEVEL="WARNING", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["HEDGEOPT_CONFIG_PATH"] = str(code / "tests" / "conf")
    return env


def toy_command(*args: str) -> list[str]:
    """``python -m hedgeopt +study=toy progress=false ARGS``."""
    return [sys.executable, "-m", "hedgeopt", "+study=toy", "progress=false", *args]


def start_hedgeopt(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -m hedgeopt ARGS`` (any study) in its own process group, so that it can be
    killed whole; output and errors in one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "hedgeopt", *args],
        cwd=cwd,
        env=env or toy_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_toy(cwd: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run one toy invocation in ``cwd`` to the end (raising on failure); its wall seconds."""
    t0 = time.perf_counter()
    subprocess.run(toy_command(*args), cwd=cwd, env=env or toy_env(), check=True, capture_output=True)
    return time.perf_counter() - t0


def start_toy(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start one toy invocation in its own process group (so that it can be killed whole)."""
    return start_hedgeopt(cwd, "+study=toy", "progress=false", *args, env=env)


def toy_bowl(trial: Any) -> float:
    """The toy objective's bowl as a bare Optuna objective (1 ms a trial), for peer timings."""
    x = trial.suggest_float("toy.x", -5, 5)
    n = trial.suggest_int("toy.n", 1, 10)
    kind = trial.suggest_categorical("toy.kind", ["a", "b"])
    time.sleep(0.001)
    return (x - 1) ** 2 + 0.1 * (n - 3) ** 2 + (0.5 if kind == "b" else 0.0)
