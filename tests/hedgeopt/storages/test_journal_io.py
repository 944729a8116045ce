"""The journal backend: short worker ids, a file Optuna reads, live readers that survive a repair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from hedgeopt.storages.journal_io import ALIAS_LENGTH
from hedgeopt.storages.opening import StorageSpec, open_storage

ROOT = Path(__file__).resolve().parents[3]

# One writer: asks trials (the enqueued ones first, as every writer does), says who got each.
WRITER = """
import json, sys, optuna
from hedgeopt.storages.opening import StorageSpec, open_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
study = optuna.load_study(study_name="s", storage=open_storage(StorageSpec(path, "journal")))
got = []
for _ in range(n):
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("by", tag)
    study.tell(trial, x)
    got.append(trial.number)
print(json.dumps(got))
"""


def test_two_processes_keep_their_trials_apart_and_optuna_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    study = optuna.create_study(study_name="s", storage=open_storage(StorageSpec(str(path), "journal")))
    for i in range(12):  # WAITING trials: each must be popped by one writer only
        study.enqueue_trial({"x": i / 12})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), tag, "15"], stdout=subprocess.PIPE, text=True, env=env
        )
        for tag in ("a", "b")
    ]
    got = {tag: json.loads(w.communicate(timeout=120)[0]) for tag, w in zip("ab", writers, strict=True)}
    assert all(w.returncode == 0 for w in writers)

    plain = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    trials = plain.get_trials()
    assert len(trials) == 30  # 12 enqueued + 18 fresh, none asked twice
    assert sorted(got["a"] + got["b"]) == list(range(30))
    for tag, numbers in got.items():
        assert {trials[n].user_attrs["by"] for n in numbers} == {tag}
        assert all(trials[n].state.name == "COMPLETE" for n in numbers)
    assert [t.params["x"] for t in trials[:12]] == [i / 12 for i in range(12)]

    records = [json.loads(line) for line in path.read_text().splitlines()]
    ids = {r["worker_id"] for r in records}
    assert all(", " not in r["distribution"] for r in records if "distribution" in r)  # compact JSON
    assert len(ids) == 3 and all(len(i) == ALIAS_LENGTH for i in ids)  # the creator and two writers

    listed = subprocess.run(
        ["optuna", "trials", "--storage", str(path), "--study-name", "s", "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(listed.stdout)) == 30


def test_a_pickled_storage_owns_only_its_own_trials(tmp_path: Path) -> None:
    """A worker's unpickled copy gets a fresh worker id (Optuna's ``__setstate__``): it must not
    take the trial its parent created for one of its own."""
    import pickle

    storage = open_storage(StorageSpec(str(tmp_path / "s.journal"), "journal"))
    study = optuna.create_study(study_name="s", storage=storage)
    parent = study.ask()
    copy = pickle.loads(pickle.dumps(storage))
    child = optuna.load_study(study_name="s", storage=copy).ask()
    assert (parent.number, child.number) == (0, 1)
    assert copy._replay_result.owned_trial_id == child._trial_id  # noqa: SLF001
    assert storage._replay_result.owned_trial_id == parent._trial_id  # noqa: SLF001


def test_a_live_storage_reads_on_after_another_opener_repairs_the_journal(tmp_path: Path) -> None:
    """A worker that opens the journal after a writer died mid-record repairs it; the storages
    already open must go on with the same trials (in place, the rewrite moved the records under
    their remembered offsets and a two-worker study failed on ``UpdateFinishedTrialError``)."""
    path = tmp_path / "s.journal"
    spec = StorageSpec(str(path), "journal")
    live = open_storage(spec)
    study = optuna.create_study(study_name="s", storage=live)
    for x in (0.1, 0.2):
        study.enqueue_trial({"x": x})
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
    with open(path, "ab") as fh:  # a writer that died mid-record
        fh.write(b'{"op_code":5,"worker_id":"gone","trial_id":0,"user_a')
    trial = study.ask()  # the live writer starts its records on a fresh line and reads past the cut
    study.tell(trial, trial.suggest_float("x", 0, 1))
    repaired = optuna.load_study(study_name="s", storage=open_storage(spec))  # repairs the file
    assert len(list(tmp_path.glob("s.journal.damaged-*"))) == 1
    trial = repaired.ask()
    repaired.tell(trial, trial.suggest_float("x", 0, 1))
    for _ in range(2):  # the live storage goes on after the rewrite, and its trials are its own
        trial = study.ask()
        trial.set_user_attr("tag", trial.number)
        study.tell(trial, trial.suggest_float("x", 0, 1))
    numbers = [t.number for t in study.get_trials()]
    assert numbers == list(range(6))
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 6
    assert [t.user_attrs.get("tag") for t in study.get_trials()] == [None] * 4 + [4, 5]
    plain = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert [(t.number, t.params) for t in plain.get_trials()] == [
        (t.number, t.params) for t in study.get_trials()
    ]
