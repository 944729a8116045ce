"""The answer where a reader of MLflow's UI looks: the best run's name, the parent's params and
description, the verdict in words, the experiment's description, no empty Default experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import DELTA_HEDGE_CLI_TINY, Store, run_cli

from hedgeopt.protocol import flatten


@pytest.mark.slow
def test_the_parent_run_and_the_runs_table_lead_with_the_answer(workdir: Path):
    r = run_cli(workdir, *DELTA_HEDGE_CLI_TINY, "n_trials=4")
    assert r.returncode == 0, r.stderr
    store = Store(workdir)
    parent, trials = store.study_runs("delta_hedge")
    tags = parent.data.tags
    best_number = int(tags["hedgeopt.best_trial"])
    names = {int(t.data.tags["hedgeopt.trial_number"]): t.info.run_name for t in trials}
    # the best trial's run is named so in the runs table; the others keep their plain names
    assert names == {n: f"trial-{n:04d}" + (" (best)" if n == best_number else "") for n in range(4)}, names
    # the parent's params are the exported overlay's values, tuned keys included
    overlay = yaml.safe_load((workdir / "exports" / "delta_hedge" / "overlay.yaml").read_text())
    exported = {k: v for k, v in flatten(overlay).items()}
    tuned = yaml.safe_load((workdir / "exports" / "delta_hedge" / "best.yaml").read_text())["metadata"]
    assert tuned["best_trial"] == best_number
    for key, value in exported.items():
        if key in parent.data.params:
            assert parent.data.params[key] == str(value), key
    best_params = store.trials("delta_hedge")[best_number].params
    assert best_params and all(parent.data.params[k] == str(v) for k, v in best_params.items())
    # the search space: an artifact and a one-line tag
    arts = {a.path for a in store.client.list_artifacts(parent.info.run_id)}
    assert "search_space.yaml" in arts
    assert "hedge.band_mode {fixed, whalley_wilmott}" in tags["hedgeopt.search_space"]
    # the verdict in words, as a tag and at the head of the run's description
    line = tags["hedgeopt.verdict_text"]
    assert line.startswith(tags["hedgeopt.verdict"]), line
    if tags["hedgeopt.verdict"] in ("wins", "ties", "loses"):
        assert line.split(":")[0] == f"{tags['hedgeopt.verdict']} {tags['hedgeopt.best_baseline']}"
        assert "[" in line and "]" in line  # the interval
    assert tags["mlflow.note.content"].startswith(f"**Verdict: {line}**")
    assert f"runs/{tags['hedgeopt.best_trial_run_id']}" in tags["mlflow.note.content"]
    # metrics worth a chart only: no one-bar trial counts or verdict codes
    one_bar = ("trials_complete", "trials_pruned", "trials_fail")
    assert not [k for k in parent.data.metrics if k.startswith("verdict.") or k in one_bar]
    print(line, sorted(parent.data.metrics))
    assert tags["hedgeopt.trial_counts"] == "complete 4, pruned 0, fail 0"
    # the optimisation history comes first among the plots
    plots = [a.path for a in store.client.list_artifacts(parent.info.run_id, "plots")]
    assert "plots/optimization_history.png" in plots
    # the experiment says what the study asks; MLflow's empty Default experiment is gone
    exp = store.client.get_experiment(parent.info.experiment_id)
    assert exp.tags["mlflow.note.content"].startswith("How should a desk re-hedge")
    assert [e.name for e in store.client.search_experiments()] == ["delta_hedge"]
