"""Issue 28: the newcomer's path, run as a new user would, from an empty directory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OWN_STUDY = """\
# @package _global_
study_name: my_toy
n_trials: 4
n_jobs: 1
seed: 3
objective: {_target_: my_objectives.ToyDeltaHedge}
metrics: [cost]
directions: [minimize]
search_space:
  hedge.ratio: {type: float, low: 0.0, high: 2.0}
hedge: {ratio: 0.5}
"""

OWN_OBJECTIVE = """\
from hedgeopt.protocol import Objective


class ToyDeltaHedge(Objective):
    def __call__(self, params, reporter):
        ratio = self.configure(params)["hedge"]["ratio"]
        return {"cost": (ratio - 1.0) ** 2}

    def evaluate(self, params, reporter=None):
        return self(params, reporter)
"""


def bare_env(cwd: Path) -> dict[str, str]:
    """The environment of a user's shell: the worktree's code, nothing of tests/ or of ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HEDGEOPT_CONFIG_PATH")}
    env["PYTHONPATH"] = str(ROOT)  # the code under test (an installed wheel in a user's venv)
    assert str(cwd) not in env["PYTHONPATH"]
    return env


def hedgeopt(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hedgeopt", "progress=false", *args],
        cwd=cwd,
        env=bare_env(cwd),
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_own_study(tmp_path: Path) -> None:
    (tmp_path / "my_conf" / "study").mkdir(parents=True)
    (tmp_path / "my_conf" / "study" / "my_toy.yaml").write_text(OWN_STUDY)
    (tmp_path / "my_conf" / "my_objectives.py").write_text(OWN_OBJECTIVE)


def test_own_objective_in_own_folder_runs_from_an_empty_directory(tmp_path):
    write_own_study(tmp_path)
    run = hedgeopt(tmp_path, "--config-dir", "my_conf", "+study=my_toy", "n_trials=2", "n_jobs=1")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "exports" / "my_toy" / "best.yaml").is_file()


def test_own_objective_through_code_dir_from_another_folder(tmp_path):
    write_own_study(tmp_path)
    code = tmp_path / "code"
    code.mkdir()
    (tmp_path / "my_conf" / "my_objectives.py").rename(code / "my_objectives.py")
    args = ["--config-dir", "my_conf", "+study=my_toy", "n_trials=2", "n_jobs=2", "code_dir=code"]
    run = hedgeopt(tmp_path, *args)
    assert run.returncode == 0, run.stderr


def test_unimportable_target_names_the_missing_module_in_full(tmp_path):
    write_own_study(tmp_path)
    (tmp_path / "my_conf" / "my_objectives.py").unlink()
    run = hedgeopt(tmp_path, "--config-dir", "my_conf", "+study=my_toy")
    assert run.returncode == 2
    line = run.stderr.strip().splitlines()[-1]
    assert "No module named 'my_objectives'" in line and "code_dir" in line, line
    assert not (tmp_path / "mlruns").exists()


def kalman_csv(path: Path, names: tuple[str, str, str]) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["Date," + ",".join(names)]
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(2300, 3)), axis=0))
    import pandas as pd

    for day, p in zip(pd.bdate_range("2008-01-01", periods=2300), prices, strict=True):
        rows.append(day.strftime("%Y-%m-%d") + "," + ",".join(f"{v:.4f}" for v in p))
    path.write_text(textwrap.dedent("\n".join(rows)) + "\n")


def test_csv_without_the_study_columns_exits_2_writing_nothing_then_the_corrected_command_runs(tmp_path):
    kalman_csv(tmp_path / "my.csv", ("AAA", "BBB", "CCC"))
    args = ["+study=kalman_hedge", "data.source=my.csv", "n_trials=2", "n_jobs=1"]
    bad = hedgeopt(tmp_path, *args)
    assert bad.returncode == 2, bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgeopt: error:"), bad.stderr
    assert "my.csv" in lines[0] and "AAA" in lines[0], lines[0]
    assert not (tmp_path / "mlruns").exists()  # no journal, no MLflow run
    good = hedgeopt(tmp_path, *args, "data.target=AAA", "data.proxies=[BBB,CCC]")
    assert good.returncode == 0, good.stderr


def test_optuna_cli_opens_the_bare_postgresql_url_the_readme_shows(tmp_path):
    from hedgeopt.storages.opening import _with_driver

    url = "postgresql://postgres@127.0.0.1:5432/test"
    assert _with_driver(url) == "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # as SQLAlchemy reads it
    optuna_cli = Path(sys.executable).with_name("optuna")
    cmd = [str(optuna_cli)] if optuna_cli.exists() else [sys.executable, "-m", "optuna.cli"]
    run = subprocess.run([*cmd, "studies", "--storage", url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
