"""Shared fixtures: run the CLI in a temporary working directory, read its MLflow store."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
TEST_CONF = ROOT / "tests" / "conf"

os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


#: Shipped studies at sizes small enough for seconds (overrides; the study itself not included).
DELTA_HEDGE_SMALL = (
    "paths.n_paths=8",
    "paths.n_paths_oos=8",
    "paths.report_every=4",
    "simulator.horizon_hours=24",
)
#: A whole delta-hedge CLI run at the smallest sizes that still log every record.
DELTA_HEDGE_CLI_TINY = (
    "+study=delta_hedge",
    "n_jobs=1",
    "paths.n_paths=4",
    "paths.n_paths_oos=8",
    "simulator.horizon_hours=24",
)


def deep_hedge_small(epochs: int) -> tuple[str, ...]:
    """The deep-hedge study's overrides for a CPU run of ``epochs`` epochs on a few hundred paths."""
    return (
        "data.n_train=256",
        "data.n_val=128",
        "data.n_select=256",
        "data.n_test=256",
        "market.n_steps=10",
        "model.hidden_size=16",
        "train.batch_size=64",
        f"train.epochs={epochs}",
        "train.accelerator=cpu",
        "train.early_stopping_patience=null",
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HEDGEOPT_CONFIG_PATH"] = str(TEST_CONF)
    env["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    return env


def run_cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m hedgeopt ARGS`` in ``cwd`` with the test studies on the config path."""
    return subprocess.run(
        [sys.executable, "-m", "hedgeopt", "progress=false", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(cwd: Path, *args: str) -> subprocess.Popen:
    """Start the CLI in its own process group with Ctrl-C deliverable (as from a terminal)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hedgeopt", "progress=false", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    """The one ``hedgeopt: error`` line an in-process CLI call ended its stderr with (asserted:
    no other error line, no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("hedgeopt: error")]
    assert errors == [err[-1]], err
    assert not any("Traceback" in line for line in err), err
    return err[-1]


class StoredTrial:
    """A completed trial as the parent reads it back from the storage: the attrs a worker stores
    for ``result``'s samples of ``metrics`` and their statistics, after a JSON round trip."""

    def __init__(self, result: Any, metrics: tuple[str, ...]) -> None:
        # imported when used, as Store imports mlflow and optuna: loading the conftest stays cheap
        from hedgeopt.execution.trial import _check_samples, _statistics

        samples = _check_samples(result, metrics)
        attrs = {"samples." + k: v.tolist() for k, v in samples.items()}
        attrs.update({"statistic." + k: d for k, d in _statistics(result, samples).items()})
        self.user_attrs = json.loads(json.dumps(attrs))
        self.state = type("State", (), {"name": "COMPLETE"})()


class Store:
    """Read access to the MLflow store and Optuna journal a CLI run left in ``cwd``'s workdir."""

    def __init__(self, cwd: Path, workdir: str | Path = "mlruns") -> None:
        self.cwd = cwd
        self.root = cwd / workdir  # an absolute workdir stays as it is

    @functools.cached_property
    def client(self):
        """Opened on first use only: a reader that opens the store while a CLI run is still
        creating it would race MLflow's table creation ("table ... already exists")."""
        from mlflow import MlflowClient

        return MlflowClient(f"sqlite:///{self.root}/mlflow.db")

    def runs(self, experiment: str, role: str | None = None) -> list:
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        flt = f"tags.`hedgeopt.role` = '{role}'" if role else ""
        return list(self.client.search_runs([exp.experiment_id], filter_string=flt, max_results=5000))

    def study_runs(self, experiment: str) -> tuple[object, list]:
        """``(parent, trials)``: the one study run of ``experiment`` and its trial runs."""
        [parent] = self.runs(experiment, "study")
        return parent, self.runs(experiment, "trial")

    def trials(self, study_name: str) -> list:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(str(self.root / "optuna" / f"{study_name}.journal")))
        return optuna.load_study(study_name=study_name, storage=storage).trials


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory for in-process CLI calls, with the test study importable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", str(TEST_CONF))
    monkeypatch.syspath_prepend(str(SUPPORT))
    return tmp_path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d
