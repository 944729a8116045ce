"""Reproducible studies: deterministic mode, study identity on resume, metric names, the best
trial's MLflow run. End-to-end runs of the CLI on the cheap toy study."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import Store, run_cli

from hedgeopt.names import stamped

VOLATILE = ("date", "trials_as_of", "mlflow_run_id", "mlflow_trial_run_id")


def _export_files(workdir: Path, study: str) -> dict[str, object]:
    """The three export files, parsed, with timestamps and run ids taken out."""
    folder = workdir / "exports" / study
    out: dict[str, object] = {"overlay.yaml": (folder / "overlay.yaml").read_text()}
    best = yaml.safe_load((folder / "best.yaml").read_text())
    full = json.loads((folder / "best.json").read_text())
    for doc in (best, full):
        for key in VOLATILE:
            assert doc["metadata"].pop(key, None) is not None or key == "mlflow_trial_run_id"
    out["best.yaml"], out["best.json"] = best, full
    return out


@pytest.mark.slow
def test_deterministic_mode_with_two_workers_reruns_byte_for_byte(tmp_path: Path):
    args = (
        "+study=toy",
        "n_trials=14",
        "n_jobs=2",
        "deterministic=true",
        "toy.steps=3",
        "sampler.n_startup_trials=4",
        "pruner=median",
        "toy.sleep=0.01",
    )
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        r = run_cli(workdir, *args)
        assert r.returncode == 0, r.stderr
        runs.append(workdir)
    a, b = (_export_files(w, "toy") for w in runs)
    assert a["overlay.yaml"] == b["overlay.yaml"]  # the overlay, byte for byte
    assert a == b
    assert a["best.yaml"]["metadata"]["deterministic"] is True
    # every trial, not only the best: same params, values and states, in the same order
    ta, tb = (Store(w).trials("toy") for w in runs)
    assert len(ta) == 14
    assert [(t.params, t.values, t.state) for t in ta] == [(t.params, t.values, t.state) for t in tb]
    # trials were asked two by two: TPE took over after 4 random ones and the batches are recorded
    assert [t.user_attrs["hedgeopt.batch"] for t in ta] == [i - i % 2 for i in range(14)]
    assert len({stamped(t.user_attrs, "pid") for t in ta}) >= 1


@pytest.mark.slow
def test_a_changed_study_is_never_silently_resumed(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=3", "n_jobs=1")
    assert r.returncode == 0, r.stderr
    journal = workdir / "mlruns" / "optuna" / "toy.journal"
    before = journal.read_bytes()

    # a narrowed search space: exit 2 before any trial, naming the change and the ways on
    r = run_cli(
        workdir, "+study=toy", "n_trials=5", "n_jobs=1", "search_space={toy.x:{high:4.0, grid:[1.0]}}"
    )
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("hedgeopt: error: study 'toy'")
    assert "search_space.toy.x.high changed 5.0 -> 4.0" in line
    assert "search_space.toy.x.grid changed" in line
    assert "study_name=" in line and "resume=force" in line
    assert journal.read_bytes() == before  # nothing written to the study

    # the objective's own config and the seed are part of the identity too
    r = run_cli(workdir, "+study=toy", "n_trials=5", "n_jobs=1", "seed=8", "toy.oos_shift=0.5")
    assert r.returncode == 2
    assert "seed changed 7 -> 8" in r.stderr and "toy.oos_shift changed 0.25 -> 0.5" in r.stderr

    # framework knobs resume as before
    r = run_cli(workdir, "+study=toy", "n_trials=4", "n_jobs=2", "max_failures=3", "sampler=random")
    assert r.returncode == 0, r.stderr
    assert len(Store(workdir).trials("toy")) == 4

    # resume=force goes on, records the new definition and what was forced
    r = run_cli(workdir, "+study=toy", "n_trials=5", "n_jobs=1", "toy.oos_shift=0.5", "resume=force")
    assert r.returncode == 0, r.stderr
    assert "resume=force" in r.stderr and "toy.oos_shift changed 0.25 -> 0.5" in r.stderr
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="toy", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(study.trials) == 5
    identity = study._storage.get_study_system_attrs(study._study_id)["hedgeopt.identity"]
    assert identity["toy.oos_shift"] == 0.5 and identity["seed"] == 7
    assert study.user_attrs["hedgeopt.fingerprint_forced"][0]["changes"] == [
        "toy.oos_shift changed 0.25 -> 0.5"
    ]
    # the Optuna study names its metric (optuna-dashboard and the optuna CLI show it)
    assert study.metric_names == ["loss"]
    r = run_cli(workdir, "+study=toy", "n_trials=5", "n_jobs=1", "toy.oos_shift=0.5")
    assert r.returncode == 0, r.stderr  # the forced definition is now the study's

    # the best trial's MLflow run is tagged, and only it; the parent links to it
    store = Store(workdir)
    best = study.best_trial.number
    tagged = [r for r in store.runs("toy", "trial") if r.data.tags.get("hedgeopt.best") == "true"]
    assert [int(r.data.tags["hedgeopt.trial_number"]) for r in tagged] == [best]
    parents = sorted(store.runs("toy", "study"), key=lambda r: r.info.start_time)
    assert parents[-1].data.tags["hedgeopt.best_trial_run_id"] == tagged[0].info.run_id
    report = yaml.safe_load((workdir / "exports" / "toy" / "best.yaml").read_text())
    assert report["metadata"]["mlflow_trial_run_id"] == tagged[0].info.run_id
    assert report["metadata"]["fingerprint"] == study.user_attrs["hedgeopt.study.fingerprint"]
    # a new study_name is the other way on: a fresh study beside the old one
    r = run_cli(workdir, "+study=toy", "n_trials=2", "n_jobs=1", "seed=8", "study_name=toy_seed8")
    assert r.returncode == 0, r.stderr


def test_bad_deterministic_and_resume_values_are_config_errors(workdir: Path):
    for arg, message in (
        ("deterministic=maybe", "deterministic must be true or false"),
        ("resume=always", "resume must be auto or force"),
    ):
        r = run_cli(workdir, "+study=toy", "n_trials=2", arg)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines()[-1].startswith(f"hedgeopt: error: {message}")
    r = run_cli(workdir, "+study=toy", "deterministic=true", "pruner=hyperband")
    assert r.returncode == 2 and "use pruner=none or pruner=median" in r.stderr
    assert not (workdir / "mlruns" / "optuna").exists()
