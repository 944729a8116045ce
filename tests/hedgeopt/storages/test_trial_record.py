"""hedgeopt.storages.trial_record: the one writer and reader of a trial's record."""

from __future__ import annotations

import ast
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
}


class _Trial:
    """A finished trial as the parent reads it back: attrs after the storage's JSON round trip."""

    def __init__(self, number: int, attrs: dict, state: str = "COMPLETE") -> None:
        self.number = number
        self.user_attrs = json.loads(json.dumps(attrs))
        self.state = type("S", (), {"name": state})()


def _stored(workdir: Path, number: int, samples: dict, stat=None, invocation: str = "inv1") -> _Trial:
    ref = tr.write_samples(workdir, "study", invocation, number, samples)
    stats = {m: describe_statistic(stat or Mean()) for m in samples}
    attrs = tr.record_attrs({"loss": float(number)}, [("loss", 0, 1.5)], stats, ref)
    return _Trial(number, attrs)


def test_samples_round_trip_bit_for_bit_through_a_short_attr(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    loss, pnl = rng.standard_t(3, size=(128, 2)), rng.normal(size=(128, 1))
    t = _stored(tmp_path, 7, {"loss": loss, "pnl": pnl})
    ref = t.user_attrs["hedgeopt.samples_file"]
    assert ref["path"] == "samples/study/inv1/7.npz" and len(ref["sha256"]) == 16
    assert len(json.dumps(t.user_attrs)) < 400  # no per-sample value in the attrs
    assert not [k for k in t.user_attrs if k.startswith("samples.")]
    for name, want in (("loss", loss), ("pnl", pnl)):
        got = tr.trial_samples(t, name, tmp_path)
        assert got.dtype == np.float64 and np.array_equal(got, want)
    assert tr.trial_samples(t, "other", tmp_path) is None
    assert list((tmp_path / "samples" / "study" / "inv1").iterdir()) == [
        tmp_path / ref["path"]
    ]  # no tmp left
    assert tr.trial_metrics(t) == {"loss": 7.0}
    assert tr.step_metrics(t.user_attrs, "loss") == [("loss_by_step", 1.5, 0)]


def test_in_sample_stacks_the_kept_trials_with_their_statistic(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    m = rng.normal(size=(5, 64, 1))
    trials = [_stored(tmp_path, i, {"loss": m[i]}, CVaR(0.9)) for i in range(5)]
    trials.append(_stored(tmp_path, 5, {"loss": rng.normal(size=(32, 1))}))  # another shape: left out
    trials.append(_Trial(6, {}, state="FAIL"))
    got = tr.in_sample(trials, "loss", tmp_path)
    assert np.array_equal(got.matrix, m) and got.missing == []
    assert got.statistic == describe_statistic(CVaR(0.9))


def test_a_missing_or_changed_file_leaves_that_trial_out_of_pbo(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(4, 16, 1))
    trials = [_stored(tmp_path, i, {"loss": m[i]}) for i in range(4)]
    (tmp_path / trials[1].user_attrs["hedgeopt.samples_file"]["path"]).unlink()
    tr.write_samples(tmp_path, "study", "inv1", 2, {"loss": m[2] + 1.0})  # overwritten: digest differs
    with pytest.raises(tr.SamplesMissing, match=r"trial 1: its samples file .*1\.npz is missing"):
        tr.trial_samples(trials[1], "loss", tmp_path)
    got = tr.in_sample(trials, "loss", tmp_path)
    assert np.array_equal(got.matrix, m[[0, 3]])
    assert len(got.missing) == 2 and "trial 2" in got.missing[1] and "not the one it wrote" in got.missing[1]
    assert tr.in_sample(trials[:2], "loss", tmp_path).matrix is None  # one trial left: no PBO


def test_an_old_journals_samples_in_attrs_are_still_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    m = rng.normal(size=(3, 20, 2))
    old = [
        _Trial(
            i,
            {"metric.loss": 1.0, "samples.loss": m[i].tolist(), "statistic.loss": describe_statistic(Mean())},
        )
        for i in range(2)
    ]
    new = _stored(tmp_path, 2, {"loss": m[2]})  # a resumed study: old trials beside new ones
    got = tr.in_sample([*old, new], "loss", tmp_path)
    assert np.array_equal(got.matrix, m)
    assert got.statistic == describe_statistic(Mean())
    assert tr.step_metrics({"hedgeopt.steps": [[0, 2.0]]}, "loss") == [("loss_by_step", 2.0, 0)]


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
