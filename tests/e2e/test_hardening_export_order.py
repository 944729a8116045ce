"""Issue 27, concurrent resume: when two invocations of one study end at different times, the
export left describes every trial (the last trial snapshot's), whichever writes last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUPPORT, Store, cli_env, run_cli

from hedgeopt.results.export import write_export

pytestmark = pytest.mark.slow


def _doc(trial: int, as_of: str | None) -> dict:
    meta = {"best_trial": trial, "n_trials": {"COMPLETE": trial + 1}}
    return {
        "toy": {"x": float(trial)},
        "metadata": meta if as_of is None else {**meta, "trials_as_of": as_of},
    }


def _best(folder: Path) -> int:
    return json.loads((folder / "toy" / "best.json").read_text())["metadata"]["best_trial"]


def test_an_export_of_older_trials_does_not_replace_a_newer_one(tmp_path):
    write_export(_doc(5, "2026-01-01T00:00:02.000000+00:00"), tmp_path, "toy")
    write_export(_doc(3, "2026-01-01T00:00:01.999999+00:00"), tmp_path, "toy")  # read earlier
    assert _best(tmp_path) == 5
    write_export(_doc(7, "2026-01-01T00:00:03.000000+00:00"), tmp_path, "toy")
    assert _best(tmp_path) == 7
    write_export(_doc(2, None), tmp_path, "toy")  # an export without the stamp: written as before
    assert _best(tmp_path) == 2


def test_the_invocation_that_exports_last_with_older_trials_leaves_the_newer_export(workdir: Path, tmp_path):
    """A reads its 4 trials, then waits (tests/support/late_export) while B resumes the study to 6
    and exports; A then writes: best.json must still count B's 6 trials, as the study holds."""
    gate = tmp_path / "gate"
    gate.mkdir()
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT / "late_export"), env["PYTHONPATH"]])
    env["HEDGEOPT_TEST_EXPORT_GATE"] = str(gate)
    cmd = [sys.executable, "-m", "hedgeopt", "progress=false", "+study=toy", "n_jobs=1"]
    a = subprocess.Popen(
        [*cmd, "n_trials=4"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 240
    while not list(gate.glob("snapshotted-*")) and a.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert list(gate.glob("snapshotted-*")), a.communicate()[1]
    b = run_cli(workdir, "+study=toy", "n_jobs=1", "n_trials=6")
    assert b.returncode == 0, b.stderr
    export = workdir / "exports" / "toy" / "best.json"
    assert json.loads(export.read_text())["metadata"]["n_trials"]["COMPLETE"] == 6
    (gate / "go").touch()
    _, err = a.communicate(timeout=240)
    assert a.returncode == 0, err
    meta = json.loads(export.read_text())["metadata"]
    trials = Store(workdir).trials("toy")
    assert [t.state.name for t in trials].count("COMPLETE") == 6
    assert meta["n_trials"]["COMPLETE"] == 6  # A's export of 4 trials did not replace B's
    assert "holds an export from a later reading of the trials" in err  # A says so, once
    assert err.count("hedgeopt: note:") == 1, err
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.values[0])
    assert meta["best_trial"] == best.number
