"""A study started from an export replays it first; a searched key on the command line is pinned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import Store, run_cli

pytestmark = pytest.mark.slow


def test_overlay_study_starts_from_the_export_never_worse_and_a_command_line_key_is_pinned(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=4", "toy.n=5")
    assert r.returncode == 0, r.stderr
    assert "hedgeopt: note: toy.n is pinned at 5: not searched, every trial uses it" in r.stderr
    assert all("toy.n" not in t.params for t in Store(workdir).trials("toy"))
    runs = Store(workdir).runs("toy", "trial")
    assert len(runs) == 4 and {r.data.metrics["size"] for r in runs} == {5.0}  # what the trials saw

    export = workdir / "exports" / "toy"
    best = yaml.safe_load((export / "best.yaml").read_text())
    params = {f"toy.{k}": v for k, v in best["toy"].items() if k != "n"}
    assert best["toy"]["n"] == 5 and best["metadata"]["pinned"] == ["toy.n"]  # the config scored
    assert yaml.safe_load((export / "overlay.yaml").read_text())["toy"]["n"] == 5
    fine = ("+study=toy", f"+overlay={export / 'overlay.yaml'}", "study_name=toy_fine", "toy.n=5")
    r = run_cli(workdir, *fine, "n_trials=4")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warm start: trial 0 replays the overlay's best params") == 1
    trials = Store(workdir).trials("toy_fine")
    assert trials[0].params == params  # exactly the export's params
    assert trials[0].values == [best["metadata"]["values"]["loss"]]  # the same objective, the same value
    assert min(t.value for t in trials) <= trials[0].value  # never worse than its start

    r = run_cli(workdir, *fine, "n_trials=6")  # resumed: nothing enqueued again
    assert r.returncode == 0, r.stderr
    assert "warm start" not in r.stderr
    trials = Store(workdir).trials("toy_fine")
    assert len(trials) == 6 and sum("fixed_params" in t.system_attrs for t in trials) == 1


def test_an_export_carries_the_pinned_value_and_a_replay_runs_it(workdir: Path):
    """A key pinned outside its searched range (toy.n in [1, 10]) is in the export, and
    replaying the export without pinning it again runs the config that was scored."""
    r = run_cli(workdir, "+study=toy", "n_trials=3", "toy.n=20")
    assert r.returncode == 0, r.stderr
    export = workdir / "exports" / "toy"
    doc = json.loads((export / "best.json").read_text())
    assert (doc["toy"]["n"], doc["metadata"]["pinned"]) == (20, ["toy.n"])

    r = run_cli(workdir, "+study=toy", f"+replay={export / 'best.json'}")
    assert r.returncode == 0, r.stderr
    [replay] = Store(workdir).runs("toy", "replay")
    assert replay.data.params["toy.n"] == "20" and replay.data.metrics["size"] == 20.0
    perf = doc["performance"]["out_of_sample"]["loss"]
    assert replay.data.metrics["loss"] == pytest.approx(perf, rel=1e-12)  # the scored config again

    overlay = export / "overlay.yaml"  # no metadata block: its header names the pinned keys
    assert "# pinned (not searched): toy.n\n" in overlay.read_text()
    r = run_cli(workdir, "+study=toy", f"+replay={overlay}")
    assert r.returncode == 0, r.stderr
    replays = Store(workdir).runs("toy", "replay")
    assert sorted(run.data.metrics["loss"] for run in replays) == pytest.approx([perf, perf], rel=1e-12)
    overlay.write_text(overlay.read_text().replace("# pinned (not searched): toy.n\n", ""))
    r = run_cli(workdir, "+study=toy", f"+replay={overlay}")  # a hand-made overlay: range checked
    assert r.returncode == 2 and "toy.n" in r.stderr, r.stderr
