"""End to end: every export says how sure it is (intervals, verdict, PBO) on cheap test studies."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import Store, run_cli

pytestmark = pytest.mark.slow


def _export(workdir, study):
    doc = yaml.safe_load((workdir / "exports" / study / "best.yaml").read_text())
    assert (
        json.loads((workdir / "exports" / study / "best.json").read_text())["performance"]["verdict"]
        == doc["performance"]["verdict"]
    )
    return doc


def test_study_with_samples_exports_intervals_verdict_and_pbo(workdir):
    r = run_cli(workdir, "+study=toy_samples")
    assert r.returncode == 0, r.stderr
    perf = _export(workdir, "toy_samples")["performance"]
    v = perf["verdict"]
    assert v["best_baseline"] == "near"  # x = 0.9 beats x = 3.0 out of sample
    assert v["outcome"] in ("wins", "ties", "loses")
    assert v["difference"]["low"] <= v["difference"]["value"] <= v["difference"]["high"]
    iv = perf["intervals"]["loss"]
    assert iv["n_samples"] == 128
    assert iv["best"]["low"] < iv["best"]["value"] < iv["best"]["high"]
    assert iv["baselines"]["far"]["outcome"] == "wins"  # (3 - 1)^2 = 4 worse, on common noise
    # common noise: every sample ranks configs by (x - 1)^2, so the ranking always carries over
    over = perf["overfitting"]
    assert over["pbo"] == pytest.approx(0.0, abs=0.02)
    assert over["n_trials"] == 12 and over["n_samples"] == 64
    assert over["selection_gap"]["loss"]["gap"] == pytest.approx(
        perf["in_sample"]["loss"] - perf["out_of_sample"]["loss"]
    )
    assert "Verdict: " in r.stdout and "Overfitting: PBO" in r.stdout
    [parent] = Store(workdir).runs("toy_samples", "study")
    assert parent.data.metrics["pbo"] == pytest.approx(over["pbo"])
    assert parent.data.tags["hedgeopt.verdict"] == v["outcome"]
    assert parent.data.metrics["oos.loss.low"] == pytest.approx(iv["best"]["low"])


def test_pure_noise_trials_have_a_high_pbo(workdir):
    r = run_cli(
        workdir, "+study=toy_samples", "toy.signal=0.0", "toy.common_noise=false", "n_trials=30", "n_jobs=1"
    )
    assert r.returncode == 0, r.stderr
    perf = _export(workdir, "toy_samples")["performance"]
    assert perf["overfitting"]["pbo"] >= 0.25, perf["overfitting"]
    print(perf["overfitting"])


def test_point_figures_only_study_says_so(workdir):
    r = run_cli(workdir, "+study=toy", "n_trials=4", "n_jobs=1")
    assert r.returncode == 0, r.stderr
    perf = _export(workdir, "toy")["performance"]
    assert perf["verdict"]["outcome"] == "not assessed"
    assert perf["verdict"]["best_baseline"] == "origin"
    assert "Point figures only" in perf["verdict"]["text"]
    assert perf["overfitting"]["pbo"] is None
