"""The end of a study: best-trial selection (Pareto knee), out-of-sample score, baselines, export, summary."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hedgeopt.config.settings import StudySettings
from hedgeopt.errors import one_line
from hedgeopt.execution.executors import current
from hedgeopt.execution.final_tasks import run_final_tasks, start_final_tasks
from hedgeopt.masking import mask, mask_values
from hedgeopt.names import (
    ATTR_FAIL_REASON,
    ATTR_FINGERPRINT,
    TAG_TRIAL_COUNTS,
)
from hedgeopt.protocol import NullReporter, metrics_of
from hedgeopt.results import export as export_mod
from hedgeopt.results.assessment import assess_study
from hedgeopt.results.assessment_text import headline_metrics, summary_lines
from hedgeopt.results.export_order import trials_as_of
from hedgeopt.results.figures import (
    draw_framework_figures,
    history_figure,
    pareto_figure,
    preload_plotting,
)
from hedgeopt.results.pareto import knee_index
from hedgeopt.results.summary import StudyOutcome, study_summary
from hedgeopt.seeds import assessment_seed
from hedgeopt.storages.trial_bookkeeping import invocation_failures
from hedgeopt.storages.trial_record import RecordFiles, in_sample, metric_columns, trial_metrics
from hedgeopt.study.invocation import Invocation, say, ui_command
from hedgeopt.tracking.best_run import tag_best_run
from hedgeopt.tracking.parent_run import describe_parent, log_history, log_model
from hedgeopt.tracking.tracker import results_table
from hedgeopt.workdir import staging_dir


class StudyFailed(RuntimeError):
    """The study could not produce a result (exit status 1)."""


def knee(
    best_trials: list[optuna.trial.FrozenTrial], directions: tuple[str, ...]
) -> optuna.trial.FrozenTrial:
    """The Pareto-front trial :data:`~hedgeopt.results.pareto.KNEE_RULE` picks."""
    return best_trials[knee_index([t.values for t in best_trials], directions)]


def state_counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for t in trials:
        if t.state.name in counts:
            counts[t.state.name] += 1
    return counts


@dataclass
class Outcome:
    """The study's best trial and how it fares, filled in step by step at the end of a study."""

    trials: list[optuna.trial.FrozenTrial]
    counts: dict[str, int]
    failures: list[optuna.trial.FrozenTrial]  # this invocation's counted failures
    best: optuna.trial.FrozenTrial
    front: list[optuna.trial.FrozenTrial]  # the Pareto front (multi-objective), else empty
    best_params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    confidence: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    trials_as_of: str | None = None  # when ``trials`` were read (export_order)


def finish_study(inv: Invocation, n_workers: int, inner: int) -> str:
    """Score, export, log and summarise the best trial; returns the parent run's final status."""
    settings, study, tracker, invocation = inv.settings, inv.study, inv.tracker, inv.id
    as_of = trials_as_of()  # before the read: a later snapshot's export replaces this one's
    trials = study.get_trials(deepcopy=False)
    counts = state_counts(trials)
    # a tag, not three one-bar charts
    tracker.client.set_tag(
        invocation, TAG_TRIAL_COUNTS, ", ".join(f"{k.lower()} {v}" for k, v in counts.items())
    )
    outcome = select_best(inv, trials, counts)
    outcome.trials_as_of = as_of
    out_dir = staging_dir(settings.workdir, invocation) / "_study"
    best_dir = out_dir / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    score_best(outcome, inv, n_workers, inner, out_dir)
    paths = export_best(outcome, inv)
    log_outcome(outcome, inv, paths)
    if any(best_dir.iterdir()):  # what the objective keeps of the best config (weights, curves)
        tracker.client.log_artifacts(invocation, str(best_dir), "best")
        log_best_model(inv, n_workers, inner, best_dir, outcome.best_params)
    try:
        df = study.trials_dataframe()
        for column, values in metric_columns(study.trials, inv.records).items():
            df[column] = values  # metrics kept in record files too, as older journals had them
        tracker.log_text(invocation, df.to_csv(index=False), "trials.csv")
    except Exception:
        pass
    print_summary(outcome, inv, paths)
    failures = outcome.failures
    if len(failures) >= settings.max_failures:
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON)
        say(
            f"hedgeopt: error: {len(failures)} trials failed (max_failures={settings.max_failures}); "
            f"last: {reason}"
        )
        return "FAILED"
    return "FINISHED"


def select_best(inv: Invocation, trials: list[optuna.trial.FrozenTrial], counts: dict[str, int]) -> Outcome:
    """The best trial (the knee of the Pareto front for several objectives); raises
    :class:`StudyFailed` when no trial completed."""
    study, settings = inv.study, inv.settings
    failures = invocation_failures(study, inv.id)
    if not any(t.state == TrialState.COMPLETE for t in trials):
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON) if failures else "no trial completed"
        raise StudyFailed(f"no trial completed in study {settings.study_name}; last failure: {reason}")
    if settings.multi_objective:
        front = study.best_trials
        best = knee(front, settings.directions)
    else:
        front = []
        best = study.best_trial
    return Outcome(trials, counts, failures, best, front, dict(best.params), trial_metrics(best, inv.records))


def score_best(outcome: Outcome, inv: Invocation, n_workers: int, inner: int, out_dir: Path) -> None:
    """Out-of-sample score, baselines and plots in the workers, the framework's figures here, and
    the statistics of how sure the result is; fills them into ``outcome``."""
    settings, best_params, where = inv.settings, outcome.best_params, inv.records
    trials_info = [
        {
            "number": t.number,
            "state": t.state.name,
            "params": dict(t.params),
            "metrics": trial_metrics(t, where),
        }
        for t in outcome.trials
        if t.state.is_finished()
    ]
    say("hedgeopt: scoring the best config out-of-sample and running the baselines")
    jobs = [
        ("evaluate", (best_params, NullReporter((out_dir / "best").resolve()))),
        ("baselines", ()),
        ("plots", (best_params, trials_info, out_dir.resolve())),
    ]
    task_seconds: dict[str, float] = {}
    # on the early worker, in order; its plots are collected after the statistics
    pending = start_final_tasks(jobs, inv.early, task_seconds)
    # the framework's figures are drawn here while the workers score the best config; matplotlib
    # is set up first, in this thread (waiting for the import started beside the search)
    preload_plotting()
    framework_figures: list[Path] = []

    def draw() -> None:
        try:
            framework_figures.extend(draw_framework_figures(inv.study, outcome.trials, settings, out_dir))
        except Exception as exc:  # noqa: BLE001 - a figure never fails the study, nor hides its error
            say(f"hedgeopt: warning: the study's figures were not drawn: {one_line(exc)}")

    framework = threading.Thread(target=draw, daemon=True)
    framework.start()
    if pending is None:
        n = min(n_workers, len(jobs))
        results = run_final_tasks(
            inv.cfg, inv.key, inner, jobs, n, timings=task_seconds, relay=relay(inv, out_dir)
        )
    else:
        results = [pending[0].result(), pending[1].result(), pending[2]]
    inv.clock.mark("out-of-sample, baselines, study plots")
    assess(outcome, settings, results[0], dict(results[1] or {}))
    inv.clock.mark("statistics")
    plot_paths = list((results[2].result() if pending is not None else results[2]) or [])
    for method, seconds in task_seconds.items():
        inv.clock.detail(f"worker: {method}", seconds)
    outcome.figures = [Path(p) for p in plot_paths]
    framework.join()
    # the history goes first, drawn now that the best baseline's in-sample value is known
    history = history_figure(
        outcome.trials, outcome.best.number, settings, outcome.confidence, outcome.baselines, out_dir
    )
    outcome.figures[:0] = [history] if history is not None else []
    front = pareto_figure(
        outcome.trials, outcome.front, outcome.best, settings, outcome.confidence, outcome.baselines, out_dir
    )
    outcome.figures += [front] if front is not None else []
    outcome.figures.extend(framework_figures)
    inv.clock.mark("framework plots")


def assess(outcome: Outcome, settings: StudySettings, oos_result: Any, raw_baselines: dict[str, Any]) -> None:
    """The out-of-sample metrics, the baselines' and the confidence statistics, into ``outcome``."""
    outcome.out_of_sample = metrics_of(oos_result)
    outcome.baselines = {
        name: {split: metrics_of(res) for split, res in splits.items()}
        for name, splits in raw_baselines.items()
    }
    cls = settings.objective_class()
    tuned = set(cls.tuned_baselines)
    where = RecordFiles(settings.workdir, settings.study_name)
    trials = in_sample(outcome.trials, settings.metrics[0], where)
    if trials.missing:
        say(f"hedgeopt: warning: PBO leaves out {len(trials.missing)} trial(s): {trials.missing[0]}")
    outcome.confidence = assess_study(
        settings.metrics,
        settings.directions,
        outcome.in_sample,
        oos_result,
        raw_baselines,
        trials,
        assessment_seed(settings.seed),
        simple=set(raw_baselines) - tuned,
        held_out_name=cls.held_out_name,
        front_size=len(outcome.front) if settings.multi_objective else None,
    )


def export_best(outcome: Outcome, inv: Invocation) -> tuple[Path, Path, Path]:
    """Write the export (``best.yaml``, the overlay, ``best.json``); returns their paths."""
    settings, best, tracker, invocation = inv.settings, outcome.best, inv.tracker, inv.id
    metadata = {
        "study": settings.study_name,
        "objective": settings.objective_target,
        "metrics": list(settings.metrics),
        "directions": list(settings.directions),
        "best_trial": best.number,
        "values": dict(zip(settings.metrics, best.values, strict=False)),
        "n_trials": outcome.counts,
        "trials_as_of": outcome.trials_as_of,
        "date": export_mod.now_iso(),
        "code_version": export_mod.code_version(),
        "mlflow_run_id": invocation,
        "mlflow_trial_run_id": tag_best_run(
            tracker,
            best.number,
            inv.run_ids.get(best.number) or tracker.runs.trial_run_id(best.number),
        ),
        "mlflow_tracking_uri": mask(settings.tracking_uri),
        "storage": settings.storage.masked,
        "seed": settings.seed,
        "sampler": settings.sampler_target,
        "fingerprint": inv.study.user_attrs.get(ATTR_FINGERPRINT),
        "deterministic": settings.deterministic,
    }
    if inv.space.pinned:  # their values are in the config beside the best params
        metadata["pinned"] = sorted(inv.space.pinned)
    metadata = mask_values(metadata)
    pareto = [
        {
            "trial": t.number,
            "values": dict(zip(settings.metrics, t.values, strict=False)),
            "params": dict(t.params),
        }
        for t in outcome.front
    ]
    doc = export_mod.build_export(
        {**inv.space.pinned, **outcome.best_params},
        metadata,
        outcome.in_sample,
        outcome.out_of_sample,
        outcome.baselines,
        pareto,
        outcome.confidence,
    )
    return export_mod.write_export(doc, settings.export_dir, settings.study_name)


def log_outcome(outcome: Outcome, inv: Invocation, paths: tuple[Path, Path, Path]) -> None:
    """The figures, the export, the results table, the headline metrics and the verdict as the
    parent run's artifacts, metrics and tags."""
    settings, in_sample, out_of_sample = inv.settings, outcome.in_sample, outcome.out_of_sample
    tracker, invocation = inv.tracker, inv.id
    for f in outcome.figures:
        if Path(f).is_file():
            tracker.log_artifact(invocation, Path(f), "plots")
    ypath, opath, jpath = paths
    for path in (ypath, jpath, opath):
        tracker.log_artifact(invocation, path, "export")
    tracker.log_text(invocation, json.dumps(export_mod._plain(outcome.baselines), indent=2), "baselines.json")
    # every figure of the tuned config and the baselines goes in one table; the parent run's
    # metrics stay few (optimised metrics and the confidence headlines) so charts stay readable
    tracker.log_table(invocation, results_table(in_sample, out_of_sample, outcome.baselines), "results")
    bmetrics: dict[str, float] = {}
    for m in settings.metrics:
        for label, values in (("is", in_sample), ("oos", out_of_sample)):
            if values.get(m) is not None:
                bmetrics[f"best.{label}.{m}"] = float(values[m])
    # the verdict's codes and differences are words in a tag (below), not one-bar charts
    bmetrics.update(
        {k: v for k, v in headline_metrics(outcome.confidence).items() if not k.startswith("verdict.")}
    )
    tracker.log_metrics(invocation, bmetrics)
    # the parent's params are the exported config: the base config's untuned keys (logged at the
    # start) and the best trial's tuned ones
    tracker.log_params(invocation, outcome.best_params)
    complete = [t for t in outcome.trials if t.state == TrialState.COMPLETE]
    log_history(tracker, {t.number: t.values for t in complete}, settings.metrics, settings.directions)
    describe_parent(
        tracker,
        outcome.confidence["verdict"],
        outcome.best.number,
        inv.run_ids.get(outcome.best.number) or tracker.runs.trial_run_id(outcome.best.number),
    )


def print_summary(outcome: Outcome, inv: Invocation, paths: tuple[Path, Path, Path]) -> None:
    """Print the console summary and keep it, and its JSON form, with the parent run."""
    settings, tracker, invocation = inv.settings, inv.tracker, inv.id
    text = study_summary(
        StudyOutcome(
            study_name=settings.study_name,
            counts=outcome.counts,
            best_params=outcome.best_params,
            in_sample=outcome.in_sample,
            out_of_sample=outcome.out_of_sample,
            baselines=outcome.baselines,
            metrics=settings.metrics,
            export_paths=list(paths),
            ui_command=ui_command(settings.tracking_uri),
            experiment_id=tracker.experiment_id,
            confidence=summary_lines(outcome.confidence),
            held_out_name=settings.objective_class().held_out_name,
        )
    )
    summary = {
        "study": settings.study_name,
        "counts": outcome.counts,
        "best_trial": outcome.best.number,
        "best_params": outcome.best_params,
        "in_sample": outcome.in_sample,
        "out_of_sample": outcome.out_of_sample,
        "failures_this_invocation": len(outcome.failures),
        "confidence": outcome.confidence,
    }
    text = mask(text)
    tracker.log_text(invocation, mask(json.dumps(export_mod._plain(summary), indent=2)), "study_summary.json")
    tracker.log_text(invocation, text, "summary.txt")
    print(text, flush=True)


def relay(inv: Invocation, folder: Path) -> tuple[str, str, str] | None:
    """How the end-of-study tasks' ``folder`` reaches workers that may not see it (None: they do)."""
    return None if inv.remote is None or current().kind == "local" else inv.remote.relay(folder)


def log_best_model(
    inv: Invocation, n_workers: int, inner: int, best_dir: Path, best_params: Mapping[str, Any]
) -> None:
    """``Objective.model()`` of the best config, logged as an MLflow model when there is one."""
    try:
        job = [("model", (best_dir.resolve(),))]
        [model] = run_final_tasks(inv.cfg, inv.key, inner, job, n_workers, relay=relay(inv, best_dir.parent))
        if model is not None:
            log_model(inv.tracker, model, inv.settings.study_name, best_params)
    except Exception as exc:  # noqa: BLE001  (the export stands without the model)
        say(f"hedgeopt: warning: the best config's model was not logged: {type(exc).__name__}: {exc}")
