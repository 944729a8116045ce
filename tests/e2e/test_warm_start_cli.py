"""A study started from an export replays it first; a searched key on the command line is pinned."""

from __future__ import annotations

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
    params = {f"toy.{k}": v for k, v in best["toy"].items()}
    assert "toy.n" not in params
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
