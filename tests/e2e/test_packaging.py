"""hedgeopt as a user installs it: a wheel in a fresh virtual environment, run from an empty folder.

The wheel must carry the Hydra configs (conf/ as the package ``hedgeopt_conf``) and the data
files, and the installed console script must compose, run and export a study with nothing
from the checkout on its path; a user's own study folder is added with ``--config-dir``; the
finished study's journal opens with plain Optuna.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

USER_STUDY = """\
# @package _global_
defaults:
  - delta_hedge
study_name: my_delta
"""


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "HEDGEOPT_CONFIG_PATH", "PYTHONSAFEPATH")
    }
    env["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    return env


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the built wheel, seeing the running interpreter's packages."""
    base = tmp_path_factory.mktemp("wheel")
    # build from a clean copy: setuptools' build/ folder in a checkout keeps stale modules
    source = base / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "mlruns",
            "exports",
            ".ruff_cache",
            ".pytest_cache",
        ),
    )
    build = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(base / "dist"),
            "-q",
        ],
        base,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = list((base / "dist").glob("hedgeopt-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"hedgeopt_conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")
    }
    assert shipped and shipped <= names, sorted(shipped - names)
    data = {f"simulators/data/{p.name}" for p in (ROOT / "simulators" / "data").glob("*.csv")}
    assert data <= names, sorted(data - names)
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], base)
    assert made.returncode == 0, made.stderr
    # torch & co. from the running interpreter, inside a venv or not (--system-site-packages would
    # see only the base interpreter's); listed after the venv's own site-packages, so the wheel wins
    [own] = list((venv / "lib").glob("python3*/site-packages"))
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (own / "_running_interpreter.pth").write_text("\n".join(outer) + "\n")
    pip = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        base,
    )
    assert pip.returncode == 0, pip.stderr
    return venv


def test_wheel_runs_a_study_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    python, script = installed / "bin" / "python", installed / "bin" / "hedgeopt"
    code = "import hedgeopt, hedgeopt.config.compose as c; print(hedgeopt.__file__); print(c.config_dir())"
    where = _run([str(python), "-c", code], tmp_path)
    module_file, conf = where.stdout.split()
    assert module_file.startswith(str(installed)) and conf.startswith(str(installed)), where.stdout
    assert conf.endswith("hedgeopt_conf")

    shown = _run([str(script), "+study=delta_hedge", "--cfg", "job"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["study_name"] == "delta_hedge"
    assert list(tmp_path.iterdir()) == []  # --cfg writes nothing

    mine = tmp_path.parent / f"{tmp_path.name}-mine"
    (mine / "study").mkdir(parents=True)
    (mine / "study" / "my_delta.yaml").write_text(USER_STUDY)
    run = _run(
        [
            str(script),
            "--config-dir",
            str(mine),
            "+study=my_delta",
            "n_trials=2",
            "n_jobs=1",
            "paths.n_paths=4",
            "paths.n_paths_oos=8",
            "simulator.horizon_hours=24",
            "progress=false",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    best = yaml.safe_load((tmp_path / "exports" / "my_delta" / "best.yaml").read_text())
    spec = yaml.safe_load((ROOT / "conf" / "study" / "delta_hedge.yaml").read_text())
    tuned = {k.split(".", 1)[1] for k in spec["search_space"]}
    assert {"cadence_seconds", "hedge_ratio"} <= set(best["hedge"]) <= tuned

    # the study's storage is a plain Optuna journal: Optuna alone reads it back
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "mlruns" / "optuna" / "my_delta.journal"
    study = optuna.load_study(study_name="my_delta", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(study.trials) == 2
    assert study.best_trial.number == best["metadata"]["best_trial"]
    assert study.best_params["hedge.hedge_ratio"] == pytest.approx(best["hedge"]["hedge_ratio"])


def test_wheel_runs_an_own_objective_from_an_own_folder(installed: Path, tmp_path: Path) -> None:
    # docs/framework.md "Writing a study", as a user types it: the folder holds the study file and
    # the objective's module; nothing of the checkout is on the path
    from test_newcomer import OWN_OBJECTIVE, OWN_STUDY

    mine = tmp_path.parent / f"{tmp_path.name}-own"
    (mine / "study").mkdir(parents=True)
    (mine / "study" / "my_toy.yaml").write_text(OWN_STUDY)
    (mine / "my_objectives.py").write_text(OWN_OBJECTIVE)
    script = installed / "bin" / "hedgeopt"
    run = _run([str(script), "--config-dir", str(mine), "+study=my_toy", "progress=false"], tmp_path)
    assert run.returncode == 0, run.stderr
    best = yaml.safe_load((tmp_path / "exports" / "my_toy" / "best.yaml").read_text())
    assert 0.0 <= best["hedge"]["ratio"] <= 2.0
