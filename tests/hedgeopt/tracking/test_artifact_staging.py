"""The artifact staging of ``executor.staging=mlflow`` (hedgeopt/tracking/staging.py), on a
``file://`` artifact repository: what a worker uploads, what the parent fetches and deletes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hedgeopt.protocol import NullReporter
from hedgeopt.tracking.staging import RemoteStaging, check_roundtrip, relocated, staged, trial_folder


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_a_trial_folder_goes_to_its_staged_uri_and_the_parent_fetches_then_discards_it(tmp_path):
    store = tmp_path / "store"
    remote = RemoteStaging(store.as_uri(), "http://unused")
    folder, uri = trial_folder("/parent/.staging/inv", remote.uri("inv"), "inv", 3)
    assert uri == f"{store.as_uri()}/.staging/inv/3" and folder != Path("/parent/.staging/inv/3")
    with staged(folder, uri, "http://unused"):
        folder.mkdir(parents=True)
        (folder / "note.txt").write_text("loss=1\n")
        (folder / "sub").mkdir()
        (folder / "sub" / "w.txt").write_text("w")
    assert not folder.exists()  # the worker's copy goes once uploaded
    assert _files(store / ".staging" / "inv" / "3") == {"note.txt": "loss=1\n", "sub/w.txt": "w"}
    parent = tmp_path / "parent" / ".staging" / "inv" / "3"
    assert remote.fetch(parent)
    assert _files(parent) == {"note.txt": "loss=1\n", "sub/w.txt": "w"}
    remote.discard(parent)
    assert not (store / ".staging" / "inv" / "3").exists()
    assert not remote.fetch(tmp_path / "parent" / ".staging" / "inv" / "4")  # nothing staged: no folder
    assert not (tmp_path / "parent" / ".staging" / "inv" / "4").exists()


def test_a_failed_trial_still_uploads_what_it_wrote_and_its_error_stands(tmp_path):
    uri = (tmp_path / "store").as_uri() + "/t"
    folder = tmp_path / "local"
    with pytest.raises(ZeroDivisionError), staged(folder, uri, "http://unused"):
        folder.mkdir()
        (folder / "partial.txt").write_text("p")
        1 / 0  # noqa: B018
    assert _files(tmp_path / "store" / "t") == {"partial.txt": "p"}
    assert not folder.exists()


def test_a_failed_upload_after_a_good_trial_fails_the_trial(tmp_path):
    (tmp_path / "blocker").write_text("a file where the store's folder goes")
    folder = tmp_path / "local"
    with pytest.raises(OSError), staged(folder, (tmp_path / "blocker").as_uri() + "/t", "http://unused"):
        folder.mkdir()
        (folder / "note.txt").write_text("n")
    assert not folder.exists()


def test_shared_staging_writes_in_the_parents_folder_and_uploads_nothing(tmp_path):
    folder, uri = trial_folder(str(tmp_path), None, "inv", 2)
    assert (folder, uri) == (tmp_path / "2", None)
    with staged(folder, uri, "http://unused"):
        folder.mkdir()
        (folder / "x").write_text("x")
    assert (folder / "x").read_text() == "x"


def test_the_probe_round_trip_leaves_nothing_and_an_unwritable_store_raises(tmp_path):
    check_roundtrip((tmp_path / "store").as_uri(), "http://unused")
    assert _files(tmp_path / "store") == {}
    (tmp_path / "blocker").write_text("not a folder")
    with pytest.raises(OSError):
        check_roundtrip((tmp_path / "blocker").as_uri(), "http://unused")


def test_the_end_of_study_tasks_paths_move_between_the_parents_folder_and_the_workers():
    src, dst = Path("/parent/_study"), Path("/tmp/w")
    reporter = NullReporter(src / "best")
    args = relocated(({"a": [src / "x.png"]}, reporter, Path("/elsewhere")), src, dst)
    assert args == ({"a": [dst / "x.png"]}, reporter, Path("/elsewhere"))
    assert reporter.artifact_dir == dst / "best"
    assert relocated([dst / "toy_loss.png"], dst, src) == [src / "toy_loss.png"]
