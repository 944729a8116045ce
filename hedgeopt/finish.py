"""The end of a study: best-trial selection (Pareto knee), out-of-sample score, baselines, export, report."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from joblib import Parallel, delayed
from optuna.trial import TrialState

from hedgeopt import export as export_mod
from hedgeopt import report
from hedgeopt.assessment import assess_study, assessment_seed, headline_metrics, summary_lines
from hedgeopt.best_run import tag_best_run
from hedgeopt.deterministic import deterministic_mode
from hedgeopt.final_tasks import run_final_tasks, start_final_tasks
from hedgeopt.fingerprint import ATTR_FINGERPRINT
from hedgeopt.invocation import Invocation, say, trial_metrics, ui_command
from hedgeopt.protocol import NullReporter, metrics_of
from hedgeopt.settings import StudySettings
from hedgeopt.storage import (
    ATTR_FAIL_REASON,
    ATTR_SAMPLES_PREFIX,
    invocation_failures,
    mask_url,
)
from hedgeopt.tracking import Tracker, results_table
from hedgeopt.workdir import staging_dir
from hedgeopt.worker import run_task


class StudyFailed(RuntimeError):
    """The study could not produce a result (exit status 1)."""


def knee(
    best_trials: list[optuna.trial.FrozenTrial], directions: tuple[str, ...]
) -> optuna.trial.FrozenTrial:
    """The Pareto-front trial closest to the utopia point after scaling each objective to [0, 1]."""
    import numpy as np

    vals = np.array([t.values for t in best_trials], dtype=float)
    for j, d in enumerate(directions):
        if d == "maximize":
            vals[:, j] = -vals[:, j]
    lo, hi = vals.min(axis=0), vals.max(axis=0)
    scaled = (vals - lo) / np.where(hi > lo, hi - lo, 1.0)
    return best_trials[int(np.argmin(np.linalg.norm(scaled, axis=1)))]


def state_counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for t in trials:
        if t.state.name in counts:
            counts[t.state.name] += 1
    return counts


def finish_study(
    study: optuna.Study, tracker: Tracker, inv: Invocation, invocation: str, n_workers: int, inner: int
) -> str:
    settings, cfg = inv.settings, inv.cfg
    trials = study.get_trials(deepcopy=False)
    counts = state_counts(trials)
    failures = invocation_failures(study, invocation)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    tracker.log_metrics(invocation, {f"trials_{k.lower()}": v for k, v in counts.items()})
    if not complete:
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON) if failures else "no trial completed"
        raise StudyFailed(f"no trial completed in study {settings.study_name}; last failure: {reason}")

    if settings.multi_objective:
        front = study.best_trials
        best = knee(front, settings.directions)
    else:
        front = []
        best = study.best_trial
    best_params = dict(best.params)
    in_sample = trial_metrics(best)

    out_dir = staging_dir(settings.workdir, invocation) / "_study"
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_info = [
        {"number": t.number, "state": t.state.name, "params": dict(t.params), "metrics": trial_metrics(t)}
        for t in trials
        if t.state.is_finished()
    ]
    say("hedgeopt: scoring the best config out-of-sample and running the baselines")
    best_dir = out_dir / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("evaluate", (best_params, NullReporter(best_dir.resolve()))),
        ("baselines", ()),
        ("plots", (best_params, trials_info, out_dir.resolve())),
    ]
    task_seconds: dict[str, float] = {}
    # on the early worker, in order; its plots are collected after the statistics
    pending = start_final_tasks(jobs, inv.early, task_seconds)
    # the framework's figures are drawn here while the workers score the best config
    framework_figures: list[Path] = []
    framework = threading.Thread(
        target=lambda: framework_figures.extend(
            draw_framework_figures(study, trials, front, settings, out_dir)
        ),
        daemon=True,
    )
    framework.start()
    if pending is None:
        results = run_final_tasks(cfg, inv.key, inner, jobs, min(n_workers, len(jobs)), timings=task_seconds)
    else:
        results = [pending[0].result(), pending[1].result(), pending[2]]
    oos_result, raw_baselines = results[0], dict(results[1] or {})
    inv.clock.mark("out-of-sample, baselines, study plots")
    out_of_sample = metrics_of(oos_result)
    baselines = {
        name: {split: metrics_of(res) for split, res in splits.items()}
        for name, splits in raw_baselines.items()
    }
    confidence = assess_study(
        settings.metrics,
        settings.directions,
        in_sample,
        oos_result,
        raw_baselines,
        trials,
        ATTR_SAMPLES_PREFIX,
        assessment_seed(settings.seed),
    )
    inv.clock.mark("statistics")

    plot_paths = list((results[2].result() if pending is not None else results[2]) or [])
    for method, seconds in task_seconds.items():
        inv.clock.detail(f"worker: {method}", seconds)
    figures = [Path(p) for p in plot_paths]
    framework.join()
    figures.extend(framework_figures)
    inv.clock.mark("framework plots")

    metadata = {
        "study": settings.study_name,
        "objective": settings.objective_target,
        "metrics": list(settings.metrics),
        "directions": list(settings.directions),
        "best_trial": best.number,
        "values": dict(zip(settings.metrics, best.values, strict=False)),
        "n_trials": counts,
        "date": export_mod.now_iso(),
        "code_version": export_mod.code_version(),
        "mlflow_run_id": invocation,
        "mlflow_trial_run_id": tag_best_run(
            tracker,
            invocation,
            best.number,
            inv.run_ids.get(best.number) or tracker.trial_run_id(best.number),
        ),
        "mlflow_tracking_uri": mask_url(settings.tracking_uri),
        "storage": settings.storage.masked,
        "seed": settings.seed,
        "sampler": cfg["sampler"].get("_target_"),
        "fingerprint": study.user_attrs.get(ATTR_FINGERPRINT),
        "deterministic": deterministic_mode(cfg),
    }
    pareto = [
        {
            "trial": t.number,
            "values": dict(zip(settings.metrics, t.values, strict=False)),
            "params": dict(t.params),
        }
        for t in front
    ]
    doc = export_mod.build_export(
        best_params, metadata, in_sample, out_of_sample, baselines, pareto, confidence
    )
    ypath, opath, jpath = export_mod.write_export(doc, settings.export_dir, settings.study_name)

    for f in figures:
        if Path(f).is_file():
            tracker.log_artifact(invocation, Path(f), "plots")
    if any(best_dir.iterdir()):  # what the objective keeps of the best config (weights, curves)
        tracker.client.log_artifacts(invocation, str(best_dir), "best")
        log_model(tracker, invocation, inv, n_workers, inner, best_dir, best_params)
    tracker.log_artifact(invocation, ypath, "export")
    tracker.log_artifact(invocation, jpath, "export")
    tracker.log_artifact(invocation, opath, "export")
    tracker.log_text(invocation, json.dumps(export_mod._plain(baselines), indent=2), "baselines.json")
    # every figure of the tuned config and the baselines goes in one table; the parent run's
    # metrics stay few (optimised metrics and the confidence headlines) so charts stay readable
    tracker.log_table(invocation, results_table(in_sample, out_of_sample, baselines), "results")
    bmetrics: dict[str, float] = {}
    for m in settings.metrics:
        for label, values in (("is", in_sample), ("oos", out_of_sample)):
            if values.get(m) is not None:
                bmetrics[f"best.{label}.{m}"] = float(values[m])
    bmetrics.update(headline_metrics(confidence))
    tracker.log_metrics(invocation, bmetrics)
    tracker.log_history(
        invocation, {t.number: t.values for t in complete}, settings.metrics, settings.directions
    )
    verdict = confidence["verdict"]
    tracker.client.set_tag(invocation, "hedgeopt.verdict", str(verdict.get("outcome")))
    if verdict.get("best_baseline"):
        tracker.client.set_tag(invocation, "hedgeopt.best_baseline", str(verdict["best_baseline"]))
    try:
        df = study.trials_dataframe()
        tracker.log_text(invocation, df.to_csv(index=False), "trials.csv")
    except Exception:
        pass
    text = report.summary(
        settings.study_name,
        counts,
        best_params,
        in_sample,
        out_of_sample,
        baselines,
        settings.metrics,
        [ypath, opath, jpath],
        ui_command(settings.tracking_uri),
        tracker.experiment_id,
        summary_lines(confidence),
    )
    summary = {
        "study": settings.study_name,
        "counts": counts,
        "best_trial": best.number,
        "best_params": best_params,
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "failures_this_invocation": len(failures),
        "confidence": confidence,
    }
    tracker.log_text(invocation, json.dumps(export_mod._plain(summary), indent=2), "study_summary.json")
    tracker.log_text(invocation, text, "summary.txt")
    print(text, flush=True)
    if len(failures) >= settings.max_failures:
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON)
        say(
            f"hedgeopt: error: {len(failures)} trials failed (max_failures={settings.max_failures}); "
            f"last: {reason}"
        )
        return "FAILED"
    return "FINISHED"


def log_model(
    tracker: Tracker,
    invocation: str,
    inv: Invocation,
    n_workers: int,
    inner: int,
    best_dir: Path,
    best_params: Mapping[str, Any],
) -> None:
    """``Objective.model()`` of the best config, logged as an MLflow model when there is one."""
    try:
        [model] = Parallel(n_jobs=n_workers, backend="loky")(
            [delayed(run_task)(inv.cfg, inv.key, inner, "model", (best_dir.resolve(),))]
        )
        if model is not None:
            tracker.log_model(invocation, model, inv.settings.study_name, best_params)
    except Exception as exc:  # noqa: BLE001  (the export stands without the model)
        say(f"hedgeopt: warning: the best config's model was not logged: {type(exc).__name__}: {exc}")


def draw_framework_figures(
    study: optuna.Study,
    trials: list[optuna.trial.FrozenTrial],
    front: list[optuna.trial.FrozenTrial],
    settings: StudySettings,
    out_dir: Path,
) -> list[Path]:
    """Optimisation history, Pareto front (multi-objective) and parameter importance."""
    figures = [
        report.optimization_history(
            trials, settings.metrics[0], settings.directions[0], out_dir / "optimization_history.png"
        )
    ]
    if settings.multi_objective and len(settings.metrics) >= 2:
        figures.append(
            report.pareto_front(
                trials, front, settings.metrics, settings.directions, out_dir / "pareto_front.png"
            )
        )
    try:
        # one completed trial has no importances (Optuna would warn that they are all equal);
        # a multi-objective study is ranked on its first metric, signed so that lower is better
        # (what Optuna's evaluator assumes of a target, and warns about whenever one is given)
        sign = -1.0 if settings.directions[0] == "maximize" else 1.0
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*importances of params to achieve low")
            # conditional params seen in few trials: the figure is indicative, the note is noise
            warnings.filterwarnings("ignore", message=".*have less than 2 trials")
            imp = (
                optuna.importance.get_param_importances(
                    study, target=(lambda t: sign * t.values[0]) if settings.multi_objective else None
                )
                if len(complete) >= 2
                else {}
            )
        if imp:
            figures.append(report.param_importance(imp, out_dir / "param_importance.png"))
    except Exception:  # noqa: BLE001, S110
        pass  # no varying parameter
    return figures
