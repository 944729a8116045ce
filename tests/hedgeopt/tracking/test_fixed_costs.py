"""Fixed costs cut without changing what is recorded: trial runs written straight to SQLite read
back as MLflow's client writes them, a trial's attrs in one journal append, the journal lock,
the MLflow store template, the same export as a direct computation, and every trial in MLflow
after a kill or Ctrl-C."""

from __future__ import annotations

import datetime
import fcntl
import math
import os
import signal
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import Store, run_cli, start_cli
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.storages.journal_io import QueuedJournalLock, set_user_attrs
from hedgeopt.storages.trial_record import RecordFiles
from hedgeopt.tracking import store_template
from hedgeopt.tracking.tracker import Tracker
from hedgeopt.tracking.trial_logger import SqliteRunWriter, TrialLogger

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5)


def _trials() -> list[optuna.trial.FrozenTrial]:
    dists = {"a.x": FloatDistribution(-1, 1), "a.n": IntDistribution(1, 9)}
    done = T0 + datetime.timedelta(seconds=2)
    out = [
        create_trial(
            state=TrialState.COMPLETE,
            value=0.25,
            params={"a.x": 0.1, "a.n": 3},
            distributions=dists,
            user_attrs={
                "metric.loss": 0.25,
                "metric.cost": float("inf"),
                "metric.size": 3.0,
                "hedgeopt.steps": [["val_loss", 0, 1.5], ["val_loss", 1, 0.5], ["val_loss", 2, float("nan")]],
            },
        ),
        create_trial(
            state=TrialState.FAIL,
            params={"a.x": 0.9, "a.n": 8},
            distributions=dists,
            user_attrs={"hedgeopt.fail_reason": "ValueError: boom", "hedgeopt.counted": True},
        ),
        create_trial(
            state=TrialState.FAIL,
            params={"a.x": 0.2, "a.n": 2},
            distributions=dists,
            system_attrs={"failed_trial": 1},
        ),
        create_trial(
            state=TrialState.PRUNED,
            params={"a.x": -0.5, "a.n": 5},
            distributions=dists,
            user_attrs={"hedgeopt.steps": [[0, 9.0]]},  # an older journal's [step, value] rows
        ),
    ]
    for i, t in enumerate(out):
        t.number, t._trial_id = i, 100 + i
        t.datetime_start, t.datetime_complete = T0, done
    return out


def _overlay(t: optuna.trial.FrozenTrial) -> dict:
    return {"a": {"x": t.params["a.x"]}, "metadata": {"trial_number": t.number}}


def _view(client, run_id: str) -> dict:
    run = client.get_run(run_id)
    tags = dict(run.data.tags)
    history = {
        k: sorted(
            (m.step, m.timestamp, m.value if not math.isnan(m.value) else "nan")
            for m in client.get_metric_history(run_id, k)
        )
        for k in run.data.metrics
    }
    art = Path(run.info.artifact_uri.removeprefix("file://"))
    return {
        "status": run.info.status,
        "start": run.info.start_time,
        "end": run.info.end_time,
        "name": run.info.run_name,
        "stage": run.info.lifecycle_stage,
        "user": run.info.user_id,
        "experiment": run.info.experiment_id,
        "params": dict(run.data.params),
        "metrics": {k: v if not math.isnan(v) else "nan" for k, v in run.data.metrics.items()},
        "tags": tags,
        "history": history,
        "inputs": sorted(
            (d.dataset.name, d.dataset.digest, tuple((t.key, t.value) for t in d.tags))
            for d in run.inputs.dataset_inputs
        ),
        "artifacts": {p.name: p.read_text() for p in sorted(art.iterdir())},
        "artifact_uri_tail": run.info.artifact_uri.rsplit("/", 3)[-1],
    }


def test_trial_runs_written_to_sqlite_read_back_as_the_mlflow_client_writes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEDGEOPT_CACHE_DIR", str(tmp_path / "cache"))
    tracker = Tracker(f"sqlite:///{tmp_path}/mlruns/mlflow.db", "same", None, "mlruns")
    tracker.dataset = {"name": "prices.csv", "digest": "abc123", "source": "prices.csv", "rows": 10}
    tracker.start_parent("parent", {"p": 1}, {})
    writer = SqliteRunWriter.open(tracker)
    assert writer is not None  # the installed MLflow's schema is the one the writer knows
    where = RecordFiles(tmp_path / "mlruns", "same")
    fast_logger = TrialLogger(tracker, ("loss",), ("minimize",), where)
    assert fast_logger.writer is not None
    for t in _trials():
        slow_dir, fast_dir = tmp_path / f"slow{t.number}", tmp_path / f"fast{t.number}"
        for d in (slow_dir, fast_dir):
            d.mkdir()
            (d / "note.txt").write_text(f"trial {t.number}\n")
        extra = {"hedgeopt.adopted": "true"} if t.number == 3 else None
        slow = tracker.log_trial(t, ("loss",), _overlay(t), slow_dir, extra, where)
        fast = fast_logger.log([(t, _overlay(t), fast_dir, extra)])
        assert list(fast) == [t.number]
        a, b = _view(tracker.client, slow), _view(tracker.client, fast[t.number])
        assert a == b
        assert a["inputs"] and a["tags"]["mlflow.source.name"]  # dataset and source, both ways
        steps = {0: {"val_loss_by_step"}, 3: {"loss_by_step"}}.get(t.number, set())  # 3: unnamed rows
        assert {k for k in a["history"] if k.endswith("_by_step")} == steps
    # and the trials are found by what adoption and the export look for
    assert tracker.runs.logged_trial_numbers() == {0, 1, 2, 3}
    assert tracker.runs.trial_run_id(0) is not None
    writer.close()


def test_the_trial_logger_falls_back_to_the_mlflow_client_on_a_schema_it_does_not_know(tmp_path, monkeypatch):
    import hedgeopt.tracking.trial_logger as tl

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEDGEOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tl, "_COLUMNS", {**tl._COLUMNS, "runs": (*tl._COLUMNS["runs"], "new_column")})
    tracker = Tracker(f"sqlite:///{tmp_path}/mlruns/mlflow.db", "files", None, "mlruns")
    tracker.start_parent("parent", {}, {})
    logger = TrialLogger(tracker, ("loss",), ("minimize",), RecordFiles(tmp_path, "files"))
    assert logger.writer is None
    ids = logger.log([(t, _overlay(t), None, None) for t in _trials()[:2]])
    assert tracker.client.get_run(ids[0]).data.metrics["loss"] == 0.25
    assert tracker.client.get_run(ids[1]).info.status == "FAILED"


def test_a_trials_attrs_are_optuna_records_written_in_one_append(tmp_path, monkeypatch):
    path = tmp_path / "s.journal"
    lock = QueuedJournalLock(str(path))
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    appends = []
    original = JournalFileBackend.append_logs
    monkeypatch.setattr(
        JournalFileBackend,
        "append_logs",
        lambda self, logs: (appends.append(len(logs)), original(self, logs)),
    )
    attrs = {"metric.loss": 1.5, "samples.loss": [[1.0], [2.0]], "hedgeopt.pid": 7}
    set_user_attrs(trial, attrs)
    assert appends == [3]
    assert trial._cached_frozen_trial.user_attrs == attrs
    study.tell(trial, 1.5)
    monkeypatch.setattr(JournalFileBackend, "append_logs", original)
    other = study.ask()
    for k, v in attrs.items():
        other.set_user_attr(k, v)
    study.tell(other, 1.5)
    # a fresh reader of the file (plain Optuna) sees the same as from set_user_attr one by one
    fresh = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert fresh.trials[0].user_attrs == fresh.trials[1].user_attrs == attrs


def test_the_queued_journal_lock_holds_optunas_lock_file_and_an_flock(tmp_path):
    path = tmp_path / "j.journal"
    path.write_text("")
    lock = QueuedJournalLock(str(path))
    assert lock.acquire()
    try:
        assert Path(str(path) + ".lock").exists()  # plain Optuna processes see it taken
        fd = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # other hedgeopt processes wait
        finally:
            os.close(fd)
    finally:
        lock.release()
    assert not Path(str(path) + ".lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.journal"]  # nothing left beside it


def _schema(db: Path) -> tuple:
    import sqlite3

    con = sqlite3.connect(str(db))
    try:
        tables = sorted(r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        version = con.execute("SELECT version_num FROM alembic_version").fetchall()
        return tables, version
    finally:
        con.close()


def test_a_new_store_from_the_template_is_the_store_mlflow_makes(tmp_path, monkeypatch):
    monkeypatch.setenv("HEDGEOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "a" / "mlflow.db"
    Tracker(f"sqlite:///{first}", "exp", None, "mlruns")  # made by MLflow's migrations; leaves the template
    template = store_template.template_path()
    assert template is not None and template.is_file()
    second = tmp_path / "b" / "mlflow.db"
    assert store_template.seed(f"sqlite:///{tmp_path}/probe.db")  # the template is used ...
    tracker = Tracker(f"sqlite:///{second}", "exp", None, "mlruns")
    assert _schema(first) == _schema(second)  # ... and gives the same schema and revision
    default = tracker.client.get_experiment("0")  # MLflow's own default experiment, made afresh
    assert default.name == "Default" and str(tmp_path / "a") not in default.artifact_location
    assert tracker.experiment_id == "1"
    run = tracker.client.create_run(tracker.experiment_id)
    assert tracker.client.get_run(run.info.run_id).info.status == "RUNNING"


def test_a_template_mlflow_refuses_is_dropped_and_the_store_made_as_usual(tmp_path, monkeypatch):
    monkeypatch.setenv("HEDGEOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    template = store_template.template_path()
    template.parent.mkdir(parents=True)
    import sqlite3

    con = sqlite3.connect(str(template))  # an SQLite file of some other schema
    con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
    con.execute("INSERT INTO alembic_version VALUES ('0000deadbeef')")
    con.commit()
    con.close()
    tracker = Tracker(f"sqlite:///{tmp_path}/s/mlflow.db", "exp", None, "mlruns")
    assert tracker.client.get_experiment_by_name("exp") is not None
    assert template.is_file() and _schema(template)[1] != [("0000deadbeef",)]  # rebuilt from MLflow's


SMALL = [
    "+study=delta_hedge",
    "n_trials=5",
    "n_jobs=1",
    "seed=3",
    "paths.n_paths=16",
    "paths.n_paths_oos=24",
    "paths.report_every=8",
    "simulator.horizon_hours=24",
    "baselines.cadences_seconds=[600]",
]


def _study_run(workdir: Path) -> dict:
    r = run_cli(workdir, *SMALL)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load((workdir / "exports" / "delta_hedge" / "best.yaml").read_text())


@pytest.mark.slow
def test_the_export_is_what_a_direct_computation_gives_and_the_same_every_run(tmp_path):
    from hedgeopt.config.compose import compose

    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    doc = _study_run(first)
    again = _study_run(second)
    for key in ("hedge", "performance"):
        assert doc[key] == again[key]  # same seed: same best params, same figures
    # every figure recomputed here, in this process, without workers, MLflow or the journal
    cfg = compose([a for a in SMALL if a != "+study=delta_hedge"] + ["+study=delta_hedge"])
    objective = build_objective(cfg)
    params = {f"hedge.{k}": v for k, v in doc["hedge"].items()}
    perf = doc["performance"]
    expected_oos = objective.evaluate(params).metrics
    for name, value in perf["out_of_sample"].items():
        assert value == pytest.approx(expected_oos[name], rel=1e-9, abs=1e-9)
    for name, splits in objective.baselines().items():
        got = perf["baselines"][name]
        for split in ("in_sample", "out_of_sample"):
            for metric, value in splits[split].metrics.items():
                assert got[split][metric] == pytest.approx(value, rel=1e-9, abs=1e-9)
    # the best trial's in-sample figures, as the workers stored them and MLflow holds them
    store = Store(first)
    best = store.client.get_run(doc["metadata"]["mlflow_trial_run_id"])
    for name, value in perf["in_sample"].items():
        assert best.data.metrics[name] == pytest.approx(value, rel=1e-12)
    assert len(store.runs("delta_hedge", "trial")) == 5


def _logged_once(workdir: Path, study: str) -> tuple[set[int], list[str]]:
    store = Store(workdir)
    runs = store.runs(study, "trial")
    numbers = [int(r.data.tags["hedgeopt.trial_number"]) for r in runs]
    assert len(numbers) == len(set(numbers)), "a trial was logged twice"
    return set(numbers), [r.info.status for r in runs]


@pytest.mark.slow
def test_every_trial_is_in_mlflow_after_a_kill_and_after_ctrl_c(workdir: Path):
    proc = start_cli(workdir, "+study=toy", "n_trials=40", "n_jobs=2", "toy.sleep=0.15")
    journal = workdir / "mlruns" / "optuna" / "toy.journal"
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and sum(t.state.is_finished() for t in (Store(workdir).trials("toy") if journal.exists() else [])) < 6
    ):
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all
    proc.wait(timeout=30)
    proc = start_cli(workdir, "+study=toy", "n_trials=40", "n_jobs=2", "toy.sleep=0.15")
    time.sleep(1.0)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        r.data.tags.get("hedgeopt.adopted") for r in Store(workdir).runs("toy", "trial")
    ):
        time.sleep(0.3)
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the parent logs what finished, then stops
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    finished = {t.number for t in Store(workdir).trials("toy") if t.state.is_finished()}
    logged, states = _logged_once(workdir, "toy")
    assert logged == finished  # nothing finished is missing, before any rerun
    assert "RUNNING" not in states
    r = run_cli(workdir, "+study=toy", "n_trials=40", "n_jobs=2", "toy.sleep=0.15")
    assert r.returncode == 0, r.stderr
    finished = {t.number for t in Store(workdir).trials("toy") if t.state.is_finished()}
    logged, _ = _logged_once(workdir, "toy")
    assert logged == finished
