"""End-to-end runs of ``python -m hedgeopt`` on the cheap test study (tests/conf/study/toy.yaml)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import Store, run_cli, start_cli

pytestmark = pytest.mark.slow


def _numbers(runs) -> list[int]:
    return sorted(int(r.data.tags["hedgeopt.trial_number"]) for r in runs)


def test_parallel_run_logs_every_trial_resumes_exactly_and_records_failures(workdir: Path):
    marker = workdir.parent / "setup.txt"
    r = run_cli(workdir, "+study=toy", "n_trials=8", "n_jobs=2", f"toy.setup_marker={marker}")
    assert r.returncode == 0, r.stderr
    store = Store(workdir)
    parents, trials = store.runs("toy", "study"), store.runs("toy", "trial")
    assert len(parents) == 1 and len(trials) == 8
    assert _numbers(trials) == list(range(8))
    parent_id = parents[0].info.run_id
    for run in trials:
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["hedgeopt.trial_state"] == "COMPLETE"
        assert {"toy.x", "toy.n", "toy.kind"} <= set(run.data.params)
        assert {"loss", "size", "cost", "objective.loss"} <= set(run.data.metrics)
        # the metric logged is the objective's value for those params
        x, n = float(run.data.params["toy.x"]), int(run.data.params["toy.n"])
        expected = (x - 1) ** 2 + 0.1 * (n - 3) ** 2 + (0.5 if run.data.params["toy.kind"] == "b" else 0.0)
        if run.data.params.get("toy.bonus") == "True":
            expected -= 0.3
        assert run.data.metrics["loss"] == pytest.approx(expected, rel=1e-12)
        arts = {a.path for a in store.client.list_artifacts(run.info.run_id)}
        assert {"trial.yaml", "note.txt"} <= arts
    # heavy set-up ran once per worker process: two search workers and the baselines' worker
    assert len(marker.read_text().split()) == 3
    assert len(set(marker.read_text().split())) == 3
    parent_arts = {a.path for a in store.client.list_artifacts(parent_id)}
    assert {"config.yaml", "study_summary.json", "baselines.json", "plots", "export"} <= parent_arts
    plots = {a.path for a in store.client.list_artifacts(parent_id, "plots")}
    assert {"plots/optimization_history.png", "plots/toy_loss.png"} <= plots
    assert (workdir / "exports" / "toy" / "best.yaml").is_file()
    assert (workdir / "exports" / "toy" / "best.json").is_file()

    # the same command again: nothing to do, no new trial
    r = run_cli(workdir, "+study=toy", "n_trials=8", "n_jobs=2", f"toy.setup_marker={marker}")
    assert r.returncode == 0, r.stderr
    assert len(store.runs("toy", "trial")) == 8 and len(store.trials("toy")) == 8

    # more trials, some raising and some returning NaN: exactly 4 added, failures recorded
    # (the objective's config changes, so the study is resumed with resume=force)
    r = run_cli(
        workdir,
        "+study=toy",
        "n_trials=12",
        "n_jobs=2",
        "toy.fail_x_above=1.5",
        "toy.nan_x_below=0.5",
        "sampler=random",
        "resume=force",
    )
    assert r.returncode == 0, r.stderr
    trials = store.runs("toy", "trial")
    assert _numbers(trials) == list(range(12))
    optuna_trials = store.trials("toy")
    assert len(optuna_trials) == 12
    for run in trials:
        if int(run.data.tags["hedgeopt.trial_number"]) < 8:
            continue
        x = float(run.data.params["toy.x"])
        if x > 1.5 or x < 0.5:
            assert run.data.tags["hedgeopt.trial_state"] == "FAIL"
            reason = run.data.tags["hedgeopt.fail_reason"]
            assert ("above the failure threshold" in reason) if x > 1.5 else ("not finite" in reason)
            assert run.info.status == "FAILED"
        else:
            assert run.data.tags["hedgeopt.trial_state"] == "COMPLETE"
    states = {t.state.name for t in optuna_trials[8:]}
    assert "FAIL" in states


def test_failure_budget_ends_the_study_with_exit_1(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=20", "n_jobs=1", "max_failures=3", "toy.fail_x_above=-100")
    assert r.returncode == 1
    assert "hedgeopt: error:" in r.stderr and "above the failure threshold" in r.stderr
    trials = Store(workdir).runs("toy", "trial")
    assert len(trials) == 3
    assert all(t.data.tags["hedgeopt.trial_state"] == "FAIL" for t in trials)


def test_export_round_trips_through_replay(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=6", "n_jobs=2")
    assert r.returncode == 0, r.stderr
    export = yaml.safe_load((workdir / "exports" / "toy" / "overlay.yaml").read_text())
    report = yaml.safe_load((workdir / "exports" / "toy" / "best.yaml").read_text())
    as_json = json.loads((workdir / "exports" / "toy" / "best.json").read_text())
    assert set(export) == {"toy"} and report == as_json and report["toy"] == export["toy"]
    meta, perf = report["metadata"], report["performance"]
    assert meta["n_trials"]["COMPLETE"] == 6 and meta["study"] == "toy"
    assert meta["mlflow_run_id"] and meta["code_version"]
    best = Store(workdir).runs("toy", "trial")
    best_run = [b for b in best if b.info.run_id == meta["mlflow_trial_run_id"]][0]
    assert float(best_run.data.params["toy.x"]) == export["toy"]["x"]
    assert perf["in_sample"]["loss"] == pytest.approx(meta["values"]["loss"])
    assert perf["out_of_sample"]["loss"] != perf["in_sample"]["loss"]  # oos shifts the bowl
    assert "origin" in perf["baselines"]

    r = run_cli(workdir, "+study=toy", f"+replay={workdir / 'exports' / 'toy' / 'best.yaml'}")
    assert r.returncode == 0, r.stderr
    replays = Store(workdir).runs("toy", "replay")
    assert len(replays) == 1
    assert replays[0].data.metrics["loss"] == pytest.approx(perf["out_of_sample"]["loss"], rel=1e-12)
    assert len(Store(workdir).runs("toy", "trial")) == 6  # replay searched nothing


def test_multi_objective_study_exports_a_pareto_front(workdir: Path):
    r = run_cli(workdir, "+study=toy_pareto", "n_trials=10", "n_jobs=2")
    assert r.returncode == 0, r.stderr
    export = yaml.safe_load((workdir / "exports" / "toy_pareto" / "best.yaml").read_text())
    front = export["pareto_front"]
    assert front and all(set(f["values"]) == {"loss", "cost"} for f in front)
    # no member of the front is dominated by another
    for a in front:
        for b in front:
            va, vb = a["values"], b["values"]
            assert not (
                vb["loss"] <= va["loss"]
                and vb["cost"] <= va["cost"]
                and (vb["loss"] < va["loss"] or vb["cost"] < va["cost"])
            )
    # the exported point: the rule that picked it, and the baseline beside it out of sample
    from hedgeopt.results.pareto import KNEE_RULE, knee_index

    perf = export["performance"]
    chosen = perf["chosen_point"]
    assert chosen["rule"] == perf["verdict"]["chosen_by"] == KNEE_RULE
    assert chosen["front_size"] == len(front)
    picked = front[knee_index([[f["values"]["loss"], f["values"]["cost"]] for f in front], ("minimize",) * 2)]
    assert export["metadata"]["best_trial"] == picked["trial"]
    oos = perf["out_of_sample"]
    assert chosen["out_of_sample"]["chosen point"] == {"loss": oos["loss"], "cost": oos["cost"]}
    origin = perf["baselines"]["origin"]["out_of_sample"]
    assert chosen["out_of_sample"]["origin"] == {"loss": origin["loss"], "cost": origin["cost"]}
    assert chosen["relation"]["origin"] in {"dominates", "dominated", "trade-off", "equal"}
    assert "Chosen point" in r.stdout and "picked by the knee: the front trial nearest" in r.stdout
    store = Store(workdir)
    parent = store.runs("toy_pareto", "study")[0]
    plots = {a.path for a in store.client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/pareto_front.png" in plots


def test_pruner_stops_poor_trials_and_mlflow_shows_them_pruned(workdir: Path):
    r = run_cli(
        workdir, "+study=toy", "n_trials=14", "n_jobs=1", "pruner=median", "toy.steps=5", "sampler=random"
    )
    assert r.returncode == 0, r.stderr
    runs = Store(workdir).runs("toy", "trial")
    states = [r.data.tags["hedgeopt.trial_state"] for r in runs]
    assert len(runs) == 14 and "PRUNED" in states and "COMPLETE" in states
    pruned = [r for r in runs if r.data.tags["hedgeopt.trial_state"] == "PRUNED"][0]
    history = Store(workdir).client.get_metric_history(pruned.info.run_id, "loss_by_step")
    assert len(history) >= 1 and len(history) < 5


def test_intermediate_values_are_logged_under_the_metric_the_objective_reports(workdir: Path):
    """The toy reports its loss while paths run; a study optimising its cost logs them as loss."""
    r = run_cli(workdir, "+study=toy", "n_trials=2", "n_jobs=1", "toy.steps=3", "metrics=[cost]")
    assert r.returncode == 0, r.stderr
    store = Store(workdir)
    for run in store.runs("toy", "trial"):
        assert "cost_by_step" not in run.data.metrics
        history = store.client.get_metric_history(run.info.run_id, "loss_by_step")
        loss = run.data.metrics["loss"]
        assert sorted((m.step, m.value) for m in history) == [
            (step, pytest.approx(loss * (1 + 1.0 / (step + 1)))) for step in range(3)
        ]


def test_grid_sampler_visits_each_point_once(workdir: Path):
    r = run_cli(
        workdir,
        "+study=toy",
        "sampler=grid",
        "n_trials=100",
        "n_jobs=2",
        "search_space={toy.bonus:{grid:[false]}}",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    runs = Store(workdir).runs("toy", "trial")
    points = [
        (float(r.data.params["toy.x"]), int(r.data.params["toy.n"]), r.data.params["toy.kind"]) for r in runs
    ]
    expected = {(x, n, k) for x in (-1.0, 1.0, 3.0) for n in (2, 3) for k in ("a", "b")}
    assert set(points) == expected and len(points) == len(expected)
    # the parent run logs the n_trials in effect: the grid's 12 points, not the 100 asked
    [parent] = Store(workdir).runs("toy", "study")
    assert parent.data.params["n_trials"] == "12"


def test_the_workdir_key_moves_everything_a_run_writes_out_of_mlruns(workdir: Path):
    other = workdir.parent / "elsewhere"  # absolute, outside the working directory
    r = run_cli(workdir, "+study=toy", "n_trials=4", "n_jobs=2", f"workdir={other}")
    assert r.returncode == 0, r.stderr + r.stdout
    assert sorted(os.listdir(workdir)) == ["exports"]  # no mlruns/ here: only export_dir
    assert (other / "optuna" / "toy.journal").is_file() and (other / "mlflow.db").is_file()
    assert not any((other / ".staging").iterdir())  # staged trial artifacts, logged and removed
    store = Store(workdir, other)
    assert len(store.trials("toy")) == 4
    exp = store.client.get_experiment_by_name("toy")
    assert exp.artifact_location == (other / "artifacts").as_uri()
    trials = store.runs("toy", "trial")
    assert len(trials) == 4
    for run in trials:
        assert run.info.artifact_uri.startswith((other / "artifacts").as_uri())
        assert (other / "artifacts" / run.info.run_id / "artifacts" / "trial.yaml").is_file()

    r = run_cli(workdir, "+study=toy", f"workdir={other}", "+replay=exports/toy/best.yaml")
    assert r.returncode == 0, r.stderr + r.stdout
    assert len(store.runs("toy", "replay")) == 1
    assert sorted(os.listdir(workdir)) == ["exports"]


def test_ctrl_c_stops_cleanly_and_the_next_invocation_resumes(workdir: Path):
    proc = start_cli(workdir, "+study=toy", "n_trials=12", "n_jobs=2", "toy.sleep=1.0")
    deadline = time.time() + 120
    journal = workdir / "mlruns" / "optuna" / "toy.journal"
    while time.time() < deadline:  # wait until some trials are done
        time.sleep(0.5)
        if journal.exists() and journal.read_text().count('"state":1') >= 2:
            break
    store = Store(workdir)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "run the same command again to resume" in out
    done_before = [t for t in store.trials("toy") if t.state.name == "COMPLETE"]
    assert 2 <= len(done_before) < 12
    parent = store.runs("toy", "study")[0]
    assert parent.info.status == "KILLED"

    r = run_cli(workdir, "+study=toy", "n_trials=12", "n_jobs=2", "toy.sleep=1.0")
    assert r.returncode == 0, r.stderr
    trials = store.trials("toy")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    assert len(complete) == 12
    assert all("interrupted" in t.user_attrs["hedgeopt.fail_reason"] for t in interrupted)
    # every earlier completed trial survived unchanged, none was run twice
    assert {t.number for t in done_before} <= {t.number for t in complete}
    logged = [int(r.data.tags["hedgeopt.trial_number"]) for r in store.runs("toy", "trial")]
    assert len(logged) == len(set(logged)) == len(trials)
