"""hedgeopt.storages.trial_record: the one writer and reader of a trial's record."""

from __future__ import annotations

import ast
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import hedgeopt
from hedgeopt.stats import CVaR, Mean, describe_statistic
from hedgeopt.storages import trial_record as tr

RECORD_NAMES = {
    "ATTR_METRIC_PREFIX",
    "ATTR_SAMPLES_PREFIX",
    "ATTR_STATISTIC_PREFIX",
    "ATTR_STEPS",
    "ATTR_SAMPLES_FILE",
    "ATTR_RECORD",
}


class _Trial:
    """A finished trial as the parent reads it back: attrs after the storage's JSON round trip."""

    def __init__(self, number: int, attrs: dict, state: str = "COMPLETE") -> None:
        self.number = number
        self.user_attrs = json.loads(json.dumps(attrs))
        self.state = type("S", (), {"name": state})()


def _stored(
    where: tr.RecordFiles, number: int, samples: dict, stat=None, invocation: str = "inv1", in_attrs=False
) -> _Trial:
    stats = {m: describe_statistic(stat or Mean()) for m in samples}
    metrics = {"loss": float(number), "sd": 0.1 * number}
    attrs = tr.write_record(where, invocation, number, metrics, [("loss", 0, 1.5)], stats, samples, in_attrs)
    return _Trial(number, {"hedgeopt.study.invocation": invocation, **attrs})


def test_the_record_round_trips_bit_for_bit_through_one_short_attr(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    loss, pnl = rng.standard_t(3, size=(128, 2)), rng.normal(size=(128, 1))
    where = tr.RecordFiles(tmp_path, "study")
    t = _stored(where, 7, {"loss": loss, "pnl": pnl})
    assert set(t.user_attrs) == {"hedgeopt.study.invocation", "hedgeopt.record"}
    assert len(t.user_attrs["hedgeopt.record"]) == 12
    for name, want in (("loss", loss), ("pnl", pnl)):
        got = tr.trial_samples(t, name, where)
        assert got.dtype == np.float64 and np.array_equal(got, want)
    assert tr.trial_samples(t, "other", where) is None
    folder = tmp_path / "samples" / "study" / "inv1"
    assert list(folder.iterdir()) == [folder / "7.npz"]  # no tmp left
    assert tr.trial_metrics(t, where) == {"loss": 7.0, "sd": 0.1 * 7}
    assert tr.step_metrics(t, "loss", where) == [("loss_by_step", 1.5, 0)]
    assert tr.statistic_description(t, "loss", where) == describe_statistic(Mean())


def test_a_storage_other_than_a_journal_keeps_metrics_in_attrs_and_samples_in_the_file(
    tmp_path: Path,
) -> None:
    where = tr.RecordFiles(tmp_path, "study")
    t = _stored(where, 3, {"loss": np.ones((4, 1))}, in_attrs=True)
    assert t.user_attrs["metric.loss"] == 3.0 and t.user_attrs["hedgeopt.steps"] == [["loss", 0, 1.5]]
    (tmp_path / "samples" / "study" / "inv1" / "3.npz").unlink()  # another host's workdir
    assert tr.trial_metrics(t, where) == {"loss": 3.0, "sd": 0.1 * 3}
    assert tr.step_metrics(t, "loss", where) == [("loss_by_step", 1.5, 0)]


def test_a_record_carried_in_the_staged_folder_is_placed_where_the_parent_reads_it(tmp_path: Path) -> None:
    worker, parent = (
        tr.RecordFiles(tmp_path / "worker", "study"),
        tr.RecordFiles(tmp_path / "parent", "study"),
    )
    staged = tmp_path / "staged" / "5"
    loss = np.arange(8.0).reshape(4, 2)
    stats = {"loss": describe_statistic(CVaR(0.25))}
    attrs = tr.write_record(worker, "inv1", 5, {"loss": 5.0}, [], stats, {"loss": loss}, carry=staged)
    assert list(staged.iterdir()) == [staged / tr.CARRIED]  # in the folder that travels, not the workdir
    assert not (tmp_path / "worker").exists()
    t = _Trial(5, {"hedgeopt.study.invocation": "inv1", **attrs})
    with pytest.raises(tr.SamplesMissing):
        tr.trial_samples(t, "loss", parent)  # before the parent placed it
    assert tr.place_carried(t, staged, parent)
    assert list(staged.iterdir()) == []  # not logged as one of the run's artifacts
    assert np.array_equal(tr.trial_samples(t, "loss", parent), loss)
    assert tr.in_sample([t, _stored(parent, 6, {"loss": loss + 1})], "loss", parent).missing == []
    assert not tr.place_carried(t, staged, parent)  # nothing carried (a trial that wrote no record)


def test_a_pruned_trial_keeps_its_steps_in_attrs_when_its_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "samples").write_text("not a folder")
    attrs = tr.steps_record(tr.RecordFiles(tmp_path, "study"), "inv1", 2, [("loss", 0, 2.0)])
    assert attrs == {"hedgeopt.steps": [["loss", 0, 2.0]]}
    assert tr.write_record(tr.RecordFiles(tmp_path, "study"), "inv1", 3, {}) == {}  # nothing to record


def test_in_sample_stacks_the_kept_trials_with_their_statistic(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    m = rng.normal(size=(5, 64, 1))
    where = tr.RecordFiles(tmp_path, "study")
    trials = [_stored(where, i, {"loss": m[i]}, CVaR(0.9)) for i in range(5)]
    trials.append(_stored(where, 5, {"loss": rng.normal(size=(32, 1))}))  # another shape: left out
    trials.append(_Trial(6, {}, state="FAIL"))
    got = tr.in_sample(trials, "loss", where)
    assert np.array_equal(got.matrix, m) and got.missing == []
    assert got.statistic == describe_statistic(CVaR(0.9))


def test_a_missing_changed_or_corrupt_file_leaves_that_trial_out_and_never_crashes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 16, 1))
    where = tr.RecordFiles(tmp_path, "study")
    trials = [_stored(where, i, {"loss": m[i]}) for i in range(5)]
    folder = tmp_path / "samples" / "study" / "inv1"
    (folder / "1.npz").unlink()
    tr.write_record(where, "inv1", 2, {"loss": 9.0}, samples={"loss": m[2] + 1.0})  # overwritten
    bad = trials[4].user_attrs["hedgeopt.record"]
    (folder / "4.npz").write_bytes(b"garbage")
    trials[4].user_attrs["hedgeopt.record"] = tr._digest(b"garbage")  # a digest that matches junk
    with pytest.raises(tr.SamplesMissing, match=r"trial 1: its samples file .*1\.npz is missing"):
        tr.trial_samples(trials[1], "loss", where)
    assert tr.trial_metrics(trials[1], where) == {} and tr.step_metrics(trials[1], "loss", where) == []
    got = tr.in_sample(trials, "loss", where)
    assert np.array_equal(got.matrix, m[[0, 3]])
    assert [s.split(":")[0] for s in got.missing] == ["trial 1", "trial 2", "trial 4"]
    assert "not the one it wrote" in got.missing[1] and "cannot be read" in got.missing[2]
    assert bad != trials[4].user_attrs["hedgeopt.record"]
    assert tr.in_sample(trials[:2], "loss", where).matrix is None  # one trial left: no PBO


def test_older_journals_records_are_still_read(tmp_path: Path) -> None:
    """Samples in ``samples.<metric>`` attrs (the first journals), or in a file named by
    ``hedgeopt.samples_file`` beside metric attrs (the journals before the record file)."""
    rng = np.random.default_rng(4)
    m = rng.normal(size=(4, 20, 2))
    stat = describe_statistic(Mean())
    old = [
        _Trial(i, {"metric.loss": 1.0, "samples.loss": m[i].tolist(), "statistic.loss": stat})
        for i in range(2)
    ]
    folder = tmp_path / "samples" / "study" / "inv0"
    folder.mkdir(parents=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, __names__=np.array(["loss"]), a0=m[2])  # the format of that file
    (folder / "2.npz").write_bytes(buf.getvalue())
    ref = {"path": "samples/study/inv0/2.npz", "sha256": hashlib.sha256(buf.getvalue()).hexdigest()[:16]}
    middle = _Trial(
        2,
        {
            "metric.loss": 2.0,
            "hedgeopt.steps": [[0, 2.0]],
            "statistic.loss": stat,
            "hedgeopt.samples_file": ref,
        },
    )
    where = tr.RecordFiles(tmp_path, "study")
    new = _stored(where, 3, {"loss": m[3]})  # a resumed study: old trials beside new ones
    got = tr.in_sample([*old, middle, new], "loss", where)
    assert np.array_equal(got.matrix, m) and got.missing == []
    assert got.statistic == stat
    assert tr.trial_metrics(middle, where) == {"loss": 2.0}
    assert tr.step_metrics(middle, "loss", where) == [("loss_by_step", 2.0, 0)]
    assert tr.metric_columns([old[0], new], where) == {
        "user_attrs_metric.loss": [1.0, 3.0],
        "user_attrs_metric.sd": [None, 0.1 * 3],
    }


def test_the_record_names_are_used_by_trial_record_only() -> None:
    root = Path(hedgeopt.__file__).resolve().parent
    users = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if names & RECORD_NAMES:
            users.add(path.relative_to(root).as_posix())
    assert users == {"names.py", "storages/trial_record.py"}
