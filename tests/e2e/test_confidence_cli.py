"""End to end: every export says how sure it is (intervals, verdict, PBO) on cheap test studies."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_per_sample_values_live_in_files_and_pbo_reads_them_unchanged(workdir):
    """A toy run's journal holds no per-sample values (every record stays short); the files
    hold exactly what the objective returned, and PBO is computed on exactly those arrays."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from hedgeopt.seeds import assessment_seed
    from hedgeopt.stats import Mean, probability_of_overfitting
    from hedgeopt.storages.trial_record import RecordFiles, in_sample, trial_metrics, trial_samples

    r = run_cli(workdir, "+study=toy_samples", "n_trials=6", "n_jobs=1", "toy.n_in=256")
    assert r.returncode == 0, r.stderr
    journal = workdir / "mlruns" / "optuna" / "toy_samples.journal"
    lines = [line for line in journal.read_text().splitlines() if '"trial_id"' in line]
    # before: one record of each trial held its 256 samples, about 5,000 characters
    assert max(len(line) for line in lines) < 400, max(lines, key=len)[:300]
    # the rows `optuna trials` prints (the README's command): before, 21 metric attrs made 1,674
    shown = subprocess.run(
        [sys.executable, "-c", "from optuna.cli import main; main()", "trials", "--study-name", "toy_samples"]
        + ["--storage", str(journal), "--storage-class", "JournalFileBackend"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = [row for row in shown.stdout.splitlines() if row.startswith("|")]
    assert shown.returncode == 0 and len(rows) == 7, shown.stderr[-500:]
    assert max(map(len, rows)) < 500, max(rows, key=len)
    study = optuna.load_study(
        study_name="toy_samples", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    trials = study.get_trials()
    assert len(trials) == 6
    where = RecordFiles(workdir / "mlruns", "toy_samples")
    for t in trials:
        assert not [k for k in t.user_attrs if k.startswith("samples.")]
        x = trial_samples(t, "loss", where)
        assert x.shape == (256, 1)
        # the objective's metrics are the same numbers computed on the stored samples
        assert float(x[:, 0].mean()) == trial_metrics(t, where)["loss"]
        assert float(x[:, 0].std(ddof=1)) == trial_metrics(t, where)["loss_sd"]
    matrix = in_sample(trials, "loss", where).matrix
    assert matrix.shape == (6, 256, 1)
    over = _export(workdir, "toy_samples")["performance"]["overfitting"]
    want = probability_of_overfitting(matrix, Mean(), "minimize", seed=assessment_seed(11))
    assert over["pbo"] == want.pbo and over["n_trials"] == 6 and over["n_samples"] == 256
    assert "left_out" not in over
