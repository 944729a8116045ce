"""Hardening: damaged storages, hostile inputs, unreachable services, one masked error line.

Fast tests (in-process CLI or single functions on real files); the end-to-end ones that run
studies are in test_hardening_e2e.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import one_error_line
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from hedgeopt.cli.command import main
from hedgeopt.results.export import write_export
from hedgeopt.results.replay_file import MAX_REPLAY_BYTES
from hedgeopt.storages import opening as st
from hedgeopt.storages.journal_repair import JournalDamaged

SECRET = "hunter2xyz"


# --------------------------------------------------------------------------- 1. journal repair


def _finished_journal(path: Path, n: int = 3) -> None:
    study = optuna.create_study(study_name="s", storage=st.open_storage(st.StorageSpec(str(path), "journal")))
    for i in range(n):
        t = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(t, float(i))


def _raw_load(path: Path) -> optuna.Study:
    """Optuna's own loader, no hedgeopt repair in between."""
    return optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))


def _cut_last_line_keep_newline(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1][: len(lines[-1]) // 2] + b"\n"
    path.write_bytes(b"".join(lines))


def test_a_cut_last_line_then_an_append_no_longer_locks_the_study(tmp_path):
    path = tmp_path / "s.journal"
    _finished_journal(path)
    _cut_last_line_keep_newline(path)
    # What the old code let happen: a later run appends a record after the bad line ...
    backend = JournalFileBackend(str(path))
    backend.append_logs([{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}])
    with pytest.raises(ValueError):  # ... and from then on Optuna cannot read the study at all
        _raw_load(path)
    damaged = path.read_bytes()
    assert st.repair_journal(path, optuna.storages.journal.JournalFileOpenLock(str(path)))
    trials = _raw_load(path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "RUNNING"]  # the cut tell is lost
    backups = list(tmp_path.glob("s.journal.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged  # nothing made worse


def test_open_storage_repairs_a_cut_last_line_before_anything_is_appended(tmp_path, capsys):
    path = tmp_path / "s.journal"
    _finished_journal(path)
    _cut_last_line_keep_newline(path)
    study = optuna.load_study(study_name="s", storage=st.open_storage(st.StorageSpec(str(path), "journal")))
    t = study.ask()
    study.tell(t, 9.0)  # appending after the repair keeps the file readable
    assert len(_raw_load(path).trials) == 4
    assert "dropped 1 damaged line" in capsys.readouterr().err


def test_a_file_that_is_not_a_journal_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a journal\nat all\n")
    with pytest.raises(JournalDamaged, match="move it away"):
        st.open_storage(st.StorageSpec(str(path), "journal"))
    assert path.read_text() == "this is not a journal\nat all\n"
    assert list(tmp_path.iterdir()) == [path]


def test_cli_refuses_a_non_journal_storage_with_exit_2(in_empty_dir, capsys):
    bad = in_empty_dir / "bad.journal"
    bad.write_bytes(b"\x00\x01garbage\n")
    assert main(["+study=toy", f"storage={bad}"]) == 2
    assert "not an Optuna journal" in one_error_line(capsys)


# --------------------------------------------------------------------------- 7, 3, 5: preflight


@pytest.mark.parametrize(
    "args, message",
    [
        ([f"storage=postgresql://postgres:{SECRET}@127.0.0.1:1/x"], "storage: cannot open"),
        ([f"storage=redis://:{SECRET}@127.0.0.1:1/0"], "storage: cannot reach Redis"),
        (["storage=adir"], "storage: adir is a folder"),
        (["storage=sqlite:///afile/x.db"], "lies under afile, which is a file"),
        ([f"mlflow.tracking_uri=foo://u:{SECRET}@h/x"], "unsupported scheme 'foo'"),
        ([f"mlflow.tracking_uri=http://u:{SECRET}@127.0.0.1:1"], "cannot reach 127.0.0.1:1"),
        ([f"mlflow.tracking_uri=postgresql://u:{SECRET}@127.0.0.1:1/x"], "cannot reach 127.0.0.1:1"),
        ([f"mlflow.tracking_uri=mysql://u:{SECRET}@127.0.0.1:1/x"], "needs the database driver"),
        (["mlflow.tracking_uri=sqlite:///afile/mlflow.db"], "lies under afile"),
        (["export_dir=afile"], "export_dir: afile is a file"),
        (["export_dir=afile/sub"], "lies under afile"),
    ],
)
def test_unusable_storage_tracking_or_export_is_refused_before_anything_is_written(
    in_empty_dir, capsys, args, message
):
    (in_empty_dir / "adir").mkdir()
    (in_empty_dir / "afile").write_text("x")
    t0 = time.perf_counter()
    assert main(["+study=toy", *args]) == 2
    line = one_error_line(capsys)
    assert message in line and SECRET not in line
    assert sorted(os.listdir(in_empty_dir)) == ["adir", "afile"]  # no journal, no mlruns, no exports
    assert time.perf_counter() - t0 < 60  # not minutes of library retries


def test_an_unexpected_failure_is_one_masked_line_and_exit_1(in_empty_dir, capsys, monkeypatch):
    from hedgeopt.study import runner

    def boom(*a, **k):
        raise RuntimeError(f"could not talk to postgresql://alice:{SECRET}@db/x\nsecond line\n  detail")

    monkeypatch.setattr(runner, "run_study", boom)
    assert main(["+study=toy"]) == 1
    line = one_error_line(capsys)
    assert line.startswith("hedgeopt: error: RuntimeError: could not talk to postgresql://alice:***@db/x")
    assert SECRET not in line
    monkeypatch.setenv("HEDGEOPT_DEBUG", "1")
    assert main(["+study=toy"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and SECRET not in err


def _immutable(path: Path, on: bool) -> bool:
    """``chattr +i`` / ``-i``: read-only even for root (whom file modes do not stop)."""
    import subprocess

    r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, check=False)
    return r.returncode == 0


@pytest.mark.parametrize(
    "what, message",
    [
        ("mlruns/mlflow.db", "mlflow.tracking_uri: mlruns/mlflow.db is not writable"),
        ("mlruns", "mlruns is not writable"),
        (".", ": . is not writable"),
        ("exports", "export_dir: exports is not writable"),
    ],
)
def test_read_only_store_or_working_directory_is_refused_with_exit_2(in_empty_dir, capsys, what, message):
    if what != ".":  # a fresh working directory has none of these
        (in_empty_dir / "mlruns").mkdir()
        (in_empty_dir / "exports").mkdir()
        (in_empty_dir / "mlruns" / "mlflow.db").write_bytes(b"")
    target = in_empty_dir / what
    if os.geteuid() == 0:
        if not _immutable(target, True):
            pytest.skip("chattr +i is not supported here")
    else:
        target.chmod(0o555 if target.is_dir() else 0o444)
    try:
        assert main(["+study=toy"]) == 2
        line = one_error_line(capsys)
        assert message in line, line
        assert not (in_empty_dir / "mlruns" / "optuna").exists()
    finally:
        if os.geteuid() == 0:
            _immutable(target, False)
        else:
            target.chmod(0o755 if target.is_dir() else 0o644)


# --------------------------------------------------------------------------- 2, 11: replay input


def _bomb() -> str:
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} {{" + ", ".join(f"k{i}: *a{level - 1}" for i in range(10)) + "}")
    lines.append("toy: {x: 0.5, extra: *a8}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (_bomb(), "aliases (*name) are not allowed"),
        ("toy:\n  x: 0.5\n" + "#" * (MAX_REPLAY_BYTES + 10) + "\n", "an export is at most"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", "is not UTF-8 text"),
        ("toy:\n  x: 0.5\n".encode("utf-16"), "is not UTF-8 text"),
        ("toy:\n  x: 0.5\n  z: \x00\n", "binary file"),
        ("a:\n" + "".join("  " * i + " b:\n" for i in range(1, 60)), "levels"),
    ],
)
def test_hostile_replay_files_are_refused_before_they_are_expanded(in_empty_dir, capsys, content, message):
    bad = in_empty_dir / "bad.yaml"
    if isinstance(content, str):
        content = content.encode()
    bad.write_bytes(content)
    t0 = time.perf_counter()
    assert main(["+study=toy", f"+replay={bad}"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("hedgeopt: error: replay") and message in line
    assert time.perf_counter() - t0 < 30  # the bomb took minutes and gigabytes before
    assert os.listdir(in_empty_dir) == ["bad.yaml"]


def test_a_replay_path_that_is_a_folder_says_so(in_empty_dir, capsys):
    (in_empty_dir / "exports").mkdir()
    assert main(["+study=toy", "+replay=exports"]) == 2
    assert "is a folder" in one_error_line(capsys)


# --------------------------------------------------------------------------- 9: non-finite numbers


@pytest.mark.parametrize(
    "args, message",
    [
        (["search_space={toy.x:{high:inf}}"], "high must be a finite number"),
        (["search_space={toy.x:{low:nan}}"], "low must be a finite number"),
        (["timeout=nan"], "timeout must be a positive number"),
        (["timeout=inf"], "timeout must be a positive number"),
    ],
)
def test_non_finite_bounds_and_timeout_are_refused(in_empty_dir, capsys, args, message):
    assert main(["+study=toy", *args]) == 2
    assert message in one_error_line(capsys)
    assert os.listdir(in_empty_dir) == []


# --------------------------------------------------------------------------- 8: keys not read from the trial


def test_a_key_the_objective_reads_from_its_base_config_cannot_be_tuned(in_empty_dir, capsys):
    args = ["+study=toy", "objective._target_=toy_hardening.ToyFixedShift"]
    assert main([*args, "+search_space={toy.oos_shift:{type:float,low:0,high:1}}"]) == 2
    line = one_error_line(capsys)
    assert "search_space.toy.oos_shift" in line and "would change nothing" in line
    assert os.listdir(in_empty_dir) == []


def test_fixed_keys_match_whole_path_segments():
    from hedgeopt.config.search_space import SearchSpace
    from hedgeopt.config.settings import _check_tunable

    class Obj:
        fixed_keys = ("score",)

    ok = SearchSpace.from_config({"scores.a": {"type": "float", "low": 0, "high": 1}})
    _check_tunable(ok, Obj, "Obj")  # "scores" is not under "score"
    bad = SearchSpace.from_config({"score.w": {"type": "float", "low": 0, "high": 1}})
    with pytest.raises(Exception, match="search_space.score.w"):
        _check_tunable(bad, Obj, "Obj")


# --------------------------------------------------------------------------- 4: concurrent exports


def _export_many(folder: str, tag: int, n: int, errors: multiprocessing.Queue) -> None:
    try:
        for i in range(n):
            doc = {"toy": {"x": float(tag)}, "metadata": {"writer": tag, "i": i, "pad": "x" * 20000}}
            write_export(doc, folder, "toy")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_exports_never_remove_each_other_nor_show_half_a_file(tmp_path):
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_export_many, args=(str(tmp_path), k, 150, errors)) for k in range(3)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        for name in ("best.yaml", "best.json"):
            path = tmp_path / "toy" / name
            if path.exists():
                text = path.read_text()
                doc = yaml.safe_load(text) if name.endswith("yaml") else json.loads(text)
                assert doc["metadata"]["pad"] == "x" * 20000  # whole, never half-written
                reads += 1
    for p in procs:
        p.join()
    assert errors.empty(), errors.get()
    assert reads > 0
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["best.json", "best.yaml", "overlay.yaml"]


# --------------------------------------------------------------------------- 11: a copied working directory


def test_a_copied_working_directory_logs_artifacts_into_the_copy(tmp_path, monkeypatch, capsys):
    import shutil

    from hedgeopt.tracking.tracker import Tracker

    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    monkeypatch.chdir(original)
    # absolute URIs: MLflow caches one store per URI string in a process
    tracker = Tracker(f"sqlite:///{original}/mlruns/mlflow.db", "demo", None, "mlruns")
    first = tracker.start_parent("first", {}, {})
    tracker.log_text(first, "one", "a.txt")
    tracker.finish(first, "FINISHED")
    shutil.copytree(original, copy)
    before = sorted(p.relative_to(original) for p in original.rglob("*") if p.is_file())

    monkeypatch.chdir(copy)
    tracker = Tracker(f"sqlite:///{copy}/mlruns/mlflow.db", "demo", None, "mlruns")
    assert "was copied or moved" in capsys.readouterr().err
    second = tracker.start_parent("second", {}, {})
    tracker.log_text(second, "two", "b.txt")
    tracker.finish(second, "FINISHED")
    exp = tracker.client.get_experiment(tracker.experiment_id)
    assert exp.artifact_location == (copy / "mlruns" / "artifacts").as_uri()
    assert (copy / "mlruns" / "artifacts" / second / "artifacts" / "b.txt").read_text() == "two"
    # the old run's artifacts are read from the copy too, and the original is untouched
    assert tracker.client.download_artifacts(first, "a.txt", str(tmp_path)) and tracker.client.get_run(
        first
    ).info.artifact_uri.startswith((copy / "mlruns").as_uri())
    after = sorted(p.relative_to(original) for p in original.rglob("*") if p.is_file())
    assert [p for p in after if "-wal" not in p.name and "-shm" not in p.name] == [
        p for p in before if "-wal" not in p.name and "-shm" not in p.name
    ]


@pytest.mark.slow  # imports every objective (torch, numba)
def test_no_shipped_study_tunes_a_key_its_objective_declares_fixed(in_empty_dir):
    from hedgeopt.config.compose import available_studies, compose
    from hedgeopt.config.settings import validate

    shipped = [p.stem for p in (Path(__file__).resolve().parents[2] / "conf" / "study").glob("*.yaml")]
    assert shipped and set(shipped) <= set(available_studies())
    for name in shipped:
        validate(compose([f"+study={name}"]))  # raises ConfigError naming the key otherwise


@pytest.mark.slow  # imports the delta_hedge objective (numba)
@pytest.mark.parametrize(
    "study, key",
    [
        ("delta_hedge_seed", "score.w_costs"),
        ("delta_hedge", "risk.risk_aversion"),
        ("delta_hedge", "paths.n_paths"),
        ("kalman_hedge", "walk_forward.test"),
        ("tail_hedge", "utility.cvar_weight"),
    ],
)
def test_tuning_a_key_read_only_at_set_up_is_refused(in_empty_dir, capsys, study, key):
    from hedgeopt.cli.command import main

    rc = main([f"+study={study}", f"+search_space={{{key}:{{type:float,low:0.1,high:0.2}}}}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert err[-1].startswith(f"hedgeopt: error: search_space.{key}:") and "would change nothing" in err[-1]
    assert os.listdir(in_empty_dir) == []
