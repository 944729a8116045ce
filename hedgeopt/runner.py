"""One invocation of a study: workers search, the parent logs, then export and report.

The parent process never runs trials. It creates (or loads) the Optuna study, opens the
MLflow parent run, starts the worker processes through joblib (loky), and while they work it
polls the storage: every trial its workers finish becomes a nested MLflow run, and the
progress bar moves. When the workers stop it scores the best config out-of-sample, collects
baselines and plots (in the same worker processes, whose objectives are already built),
writes the export and prints the summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from joblib import Parallel, delayed
from optuna.trial import TrialState

from hedgeopt import console, report
from hedgeopt import export as export_mod
from hedgeopt.assessment import assess_metric, assess_study, headline_metrics, summary_lines
from hedgeopt.best_run import tag_best_run
from hedgeopt.config import ConfigError
from hedgeopt.deterministic import deterministic_mode, run_batches
from hedgeopt.final_tasks import EarlyTasks, preload_plotting, run_final_tasks, start_final_tasks
from hedgeopt.fingerprint import ATTR_FINGERPRINT, identify_study, resume_mode
from hedgeopt.phases import PhaseClock
from hedgeopt.protocol import NullReporter, metrics_of
from hedgeopt.samplers import worker_seed
from hedgeopt.search_space import SearchSpace
from hedgeopt.settings import StudySettings
from hedgeopt.storage import (
    ATTR_FAIL_REASON,
    ATTR_INVOCATION,
    ATTR_METRIC_PREFIX,
    ATTR_SAMPLES_PREFIX,
    count_trials,
    counted,
    invocation_failures,
    mask_url,
    open_storage,
    reap_orphans,
    slot_lock,
)
from hedgeopt.tracking import Tracker, flatten, nest, results_table
from hedgeopt.trial_logger import TrialLogger
from hedgeopt.worker import WorkerTask, limit_threads, prewarm, run_task, run_worker

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_FRAMEWORK_KEYS = ("study_name", "n_trials", "n_jobs", "timeout", "seed", "storage", "max_failures",
                   "heartbeat_interval", "grace_period", "export_dir", "progress", "metrics",
                   "directions", "replay", "deterministic", "resume")


class StudyFailed(RuntimeError):
    """The study could not produce a result (exit status 1)."""


def say(msg: str) -> None:
    if console.info(msg):  # --quiet keeps errors and warnings only
        print(mask_url(msg), file=sys.stderr, flush=True)


def masked_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The composed config with passwords in storage and tracking URLs masked."""
    out = json.loads(json.dumps(cfg, default=str))
    if out.get("storage"):
        out["storage"] = mask_url(out["storage"])
    if isinstance(out.get("mlflow"), dict):
        out["mlflow"]["tracking_uri"] = mask_url(out["mlflow"].get("tracking_uri"))
    return out


def config_key(cfg: Mapping[str, Any]) -> str:
    """Identifies the objective set-up a worker caches (the config minus framework knobs)."""
    relevant = {k: v for k, v in cfg.items() if k not in ("n_trials", "n_jobs", "timeout", "progress",
                                                          "replay", "export_dir", "mlflow",
                                                          "storage", "sampler", "pruner")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def ui_command(tracking_uri: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {mask_url(tracking_uri)}"
    return f"mlflow ui --backend-store-uri {mask_url(tracking_uri)}"


def trial_overlay(study_name: str, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's ``trial.yaml``: its params as a config overlay, shaped like an export."""
    doc = nest(dict(trial.params))
    metrics = trial_metrics(trial)
    doc["metadata"] = {"study": study_name, "trial_number": trial.number, "state": trial.state.name}
    if trial.user_attrs.get(ATTR_FAIL_REASON):
        doc["metadata"]["fail_reason"] = trial.user_attrs[ATTR_FAIL_REASON]
    doc["performance"] = {"in_sample": metrics}
    return export_mod._plain(doc)


def trial_metrics(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    return {k[len(ATTR_METRIC_PREFIX):]: float(v) for k, v in trial.user_attrs.items()
            if k.startswith(ATTR_METRIC_PREFIX)}


class Invocation:
    """State shared by the parent's poller and its main flow."""

    def __init__(self, cfg: dict[str, Any], settings: StudySettings, space: SearchSpace) -> None:
        self.cfg, self.settings, self.space = cfg, settings, space
        self.key = config_key(cfg)
        self.logged: set[int] = set()
        self.run_ids: dict[int, str] = {}
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.clock = PhaseClock()
        self.trial_logger: TrialLogger | None = None
        self.early: EarlyTasks | None = None  # baselines computed beside the search

    # ------------------------------------------------------------------ polling
    def poll(self, study: optuna.Study, tracker: Tracker, invocation: str, staging: Path,
             bar: Any) -> None:
        """Log this invocation's newly finished trials; refresh the progress bar."""
        with self.lock:
            trials = study.get_trials(deepcopy=False)
            # every trial finished since the last poll, written in one transaction
            self._log_trials(tracker, [(t, staging / str(t.number), None) for t in trials
                                       if t.number not in self.logged and t.state.is_finished()
                                       and t.user_attrs.get(ATTR_INVOCATION) == invocation])
            if bar is not None:
                done = sum(1 for t in trials if counted(t) and t.state.is_finished())
                fails = sum(1 for t in trials if t.state == TrialState.FAIL)
                bar.n = min(done, bar.total)
                bar.set_postfix_str(f"best={_best_text(study, self.settings)} fail={fails}",
                                    refresh=False)
                bar.refresh()

    def _log_trial(self, tracker: Tracker, t: optuna.trial.FrozenTrial, folder: Path,
                   extra: Mapping[str, str] | None = None) -> None:
        self._log_trials(tracker, [(t, folder, extra)])

    def _log_trials(self, tracker: Tracker, entries: list[tuple[optuna.trial.FrozenTrial, Path,
                                                                Mapping[str, str] | None]]) -> None:
        if not entries:
            return
        if self.trial_logger is None or self.trial_logger.tracker is not tracker:
            self.trial_logger = TrialLogger(tracker, self.settings.metrics, self.settings.directions)
        name = self.settings.study_name
        ids = self.trial_logger.log([(t, trial_overlay(name, t), folder, extra)
                                     for t, folder, extra in entries])
        self.logged.update(ids)
        self.run_ids.update(ids)
        for t, folder, _ in entries:
            console.trial_line(t.number, t.state.name, trial_metrics(t), t.params, self.settings.metrics)
            shutil.rmtree(folder, ignore_errors=True)

    def poll_forever(self, stop: threading.Event, *args: Any) -> None:
        while not stop.wait(0.2):
            try:
                self.poll(*args)
            except Exception as exc:  # keep polling; report at the end
                self.error = exc


def _best_text(study: optuna.Study, settings: StudySettings) -> str:
    if settings.multi_objective:
        try:
            return f"{len(study.best_trials)} on front"
        except Exception:
            return "-"
    try:
        return f"{study.best_value:.4g}"
    except ValueError:
        return "-"


def _knee(best_trials: list[optuna.trial.FrozenTrial],
          directions: tuple[str, ...]) -> optuna.trial.FrozenTrial:
    """The Pareto-front trial closest to the utopia point after scaling each objective to [0, 1]."""
    import numpy as np

    vals = np.array([t.values for t in best_trials], dtype=float)
    for j, d in enumerate(directions):
        if d == "maximize":
            vals[:, j] = -vals[:, j]
    lo, hi = vals.min(axis=0), vals.max(axis=0)
    scaled = (vals - lo) / np.where(hi > lo, hi - lo, 1.0)
    return best_trials[int(np.argmin(np.linalg.norm(scaled, axis=1)))]


def _state_counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for t in trials:
        if t.state.name in counts:
            counts[t.state.name] += 1
    return counts


def _create_study(settings: StudySettings, cfg: Mapping[str, Any] | None = None) -> optuna.Study:
    storage = open_storage(settings.storage)
    try:  # loading first: a journal would record even a failed create
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
    except KeyError:
        study = optuna.create_study(study_name=settings.study_name, storage=storage,
                                    directions=list(settings.directions), load_if_exists=True)
    existing = [d.name.lower() for d in study.directions]
    if existing != list(settings.directions):
        raise ConfigError(f"study {settings.study_name!r} already exists in "
                          f"{settings.storage.masked} with directions {existing}, not "
                          f"{list(settings.directions)}; choose another study_name")
    if cfg is not None:
        identify_study(study, cfg, settings, say)
    return study


def run_study(cfg: dict[str, Any], settings: StudySettings, space: SearchSpace) -> int:
    """Search, log, export. Returns the exit status."""
    clock = PhaseClock("imports and config")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for note in space.notes:
        say(f"hedgeopt: note: {note}")
    resume_mode(cfg), deterministic_mode(cfg)  # config errors before anything is written
    study = _create_study(settings, cfg)
    clock.mark("optuna storage")
    warm = _prewarm_workers(cfg, settings, study)  # worker start-up overlaps MLflow's
    early = _start_early_tasks(cfg, settings, study)  # so does the baselines' worker
    try:
        tracker = Tracker(settings.tracking_uri, settings.study_name, settings.artifact_location)
    except BaseException:
        if early is not None:
            early.close(kill=True)
        raise
    clock.mark("mlflow store")
    warm.join()
    tracker.dataset = _describe_dataset(cfg, settings, study)
    clock.mark("workers started, objectives built")
    n_workers_max = settings.workers()
    parent_params = {k: cfg.get(k) for k in _FRAMEWORK_KEYS if k in cfg}
    parent_params["storage"] = settings.storage.masked
    parent_params["sampler"] = cfg["sampler"].get("_target_")
    parent_params["pruner"] = cfg["pruner"].get("_target_")
    parent_params["objective"] = settings.objective_target
    parent_params["workers"] = n_workers_max
    domain = {k: v for k, v in cfg.items() if k not in _FRAMEWORK_KEYS and k not in
              ("sampler", "pruner", "objective", "search_space", "mlflow")}
    parent_params.update(flatten(domain))
    invocation = tracker.start_parent(
        f"{settings.study_name}-{time.strftime('%Y%m%d-%H%M%S')}", parent_params,
        {"hedgeopt.study": settings.study_name, "hedgeopt.storage": settings.storage.masked})
    tracker.log_text(invocation, yaml.safe_dump(masked_config(cfg), sort_keys=False), "config.yaml")
    inv = Invocation(cfg, settings, space)
    inv.clock = clock
    inv.early = early
    staging = Path("mlruns") / ".staging" / invocation
    staging.mkdir(parents=True, exist_ok=True)
    status = "FAILED"
    try:
        reap_orphans(study)
        _adopt_unlogged(study, tracker, inv)
        tracker.clean_staging(staging.parent)  # folders of killed invocations, now adopted
        n_counted, _ = count_trials(study)
        remaining, n_workers, inner = _worker_plan(settings, n_counted)
        deadline = None if settings.timeout is None else time.time() + settings.timeout
        # Invocations running at once on one study need distinct sampler seeds: each claims an
        # ordinal in the study (0 for the first), which spreads its workers' seeds apart.
        base = _WORKER_SEED_STRIDE * _claim_ordinal(study, settings)
        tasks = [WorkerTask(cfg, inv.key, w, worker_seed(settings.seed, n_counted, base + w), invocation,
                            str(staging.resolve()), deadline, inner) for w in range(n_workers)]
        if remaining:
            say(f"hedgeopt: study {settings.study_name}: {n_counted} of {settings.n_trials} trials "
                f"done, running {remaining} more on {n_workers} worker(s); storage "
                f"{settings.storage.masked}")
        else:
            say(f"hedgeopt: study {settings.study_name} already has {n_counted} trials "
                f"(n_trials={settings.n_trials}); exporting")
        clock.mark("parent run, adoption")
        # the parent idles while its workers search: import what the export will draw with
        threading.Thread(target=preload_plotting, daemon=True).start()
        t_search = time.perf_counter()
        _run_workers(study, tracker, inv, invocation, staging, tasks, n_counted, remaining)
        if remaining and inv.logged:
            # search throughput as a user sees it: workers started -> every trial logged
            search_s = time.perf_counter() - t_search
            tracker.log_metrics(invocation, {"search_seconds": search_s,
                                             "trials_per_s": len(inv.logged) / search_s})
        if remaining:  # trials of dead invocations that heartbeats failed meanwhile
            _adopt_unlogged(study, tracker, inv)
        clock.mark("search")
        status = _finish(study, tracker, inv, invocation, n_workers, inner)
        return EXIT_OK if status == "FINISHED" else EXIT_FAILED
    except KeyboardInterrupt:
        status = "KILLED"
        if inv.early is not None:
            inv.early.close(kill=True)
            inv.early = None
        _stop_workers()
        reap_orphans(study, "interrupted: the invocation was stopped (Ctrl-C)", invocation)
        try:
            inv.poll(study, tracker, invocation, staging, None)
        except Exception:
            pass
        n, _ = count_trials(study)
        say(f"hedgeopt: interrupted with {n} of {settings.n_trials} trials done; run the same "
            "command again to resume")
        return EXIT_INTERRUPTED
    except StudyFailed as exc:
        say(f"hedgeopt: error: {exc}")
        return EXIT_FAILED
    finally:
        if inv.early is not None:
            inv.early.close(kill=True)
        tracker.finish(invocation, status)
        shutil.rmtree(staging, ignore_errors=True)
        clock.mark("export and artifact upload")
        clock.dump()


def _worker_plan(settings: StudySettings, n_counted: int) -> tuple[int, int, int]:
    """``(trials remaining, worker processes, inner threads per worker)``."""
    remaining = max(0, settings.n_trials - n_counted)
    n_workers = max(1, min(settings.workers(), remaining))
    return remaining, n_workers, max(1, (os.cpu_count() or 1) // n_workers)


def _prewarm_workers(cfg: dict[str, Any], settings: StudySettings,
                     study: optuna.Study) -> threading.Thread:
    """Start the worker processes and build their objectives in the background.

    Process start-up, imports and the objective's set-up take seconds, as does opening the
    MLflow store in the parent; done at once they overlap. joblib reuses the same loky
    workers for the search, and each worker keeps its objective (cached by config key).
    """
    _, n_workers, inner = _worker_plan(settings, count_trials(study)[0])
    key = config_key(cfg)

    def warm() -> None:
        try:
            Parallel(n_jobs=n_workers, backend="loky")(
                delayed(prewarm)(cfg, key, inner) for _ in range(n_workers))
        except BaseException:  # the search itself reports set-up failures
            pass

    thread = threading.Thread(target=warm, daemon=True)
    thread.start()
    return thread


def _describe_dataset(cfg: dict[str, Any], settings: StudySettings,
                      study: optuna.Study) -> Mapping[str, Any] | None:
    """``Objective.dataset()``, asked of a warm worker (the parent never builds objectives)."""
    _, n_workers, inner = _worker_plan(settings, count_trials(study)[0])
    try:
        [desc] = Parallel(n_jobs=n_workers, backend="loky")(
            [delayed(run_task)(cfg, config_key(cfg), inner, "dataset", ())])
    except Exception as exc:  # noqa: BLE001  (the search reports set-up failures itself)
        say(f"hedgeopt: warning: no dataset logged: {type(exc).__name__}: {exc}")
        return None
    return desc


def _start_early_tasks(cfg: dict[str, Any], settings: StudySettings,
                       study: optuna.Study) -> EarlyTasks | None:
    """The baselines' worker, when this invocation will search (see :class:`EarlyTasks`)."""
    remaining, _, inner = _worker_plan(settings, count_trials(study)[0])
    return EarlyTasks(cfg, config_key(cfg), inner) if remaining else None


def _stop_workers() -> None:
    """Kill this invocation's worker processes (their trials are then reaped as interrupted)."""
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=True)
    except Exception:
        pass


_WORKER_SEED_STRIDE = 1 << 16
ATTR_ORDINALS = "hedgeopt.invocations"


def _claim_ordinal(study: optuna.Study, settings: StudySettings) -> int:
    """This invocation's ordinal among those that ran on the study (under the slot lock)."""
    lock = slot_lock(settings.storage, settings.study_name)
    lock.acquire()
    try:
        n = int(study.user_attrs.get(ATTR_ORDINALS, 0))
        study.set_user_attr(ATTR_ORDINALS, n + 1)
        return n
    finally:
        lock.close()


def _adopt_unlogged(study: optuna.Study, tracker: Tracker, inv: Invocation) -> None:
    """Log finished trials that no live invocation will log.

    Those of an earlier, killed invocation, and those whose worker died before stamping them
    with its invocation (reaped later as lost: no poller claims them).
    """
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not finished:
        return
    abandoned = tracker.abandoned_invocations()
    logged = tracker.logged_trial_numbers(abandoned)
    for t in finished:
        if t.number in logged:
            continue
        owner = t.user_attrs.get(ATTR_INVOCATION)
        if owner is not None and owner not in abandoned:
            continue  # a live invocation elsewhere will log it
        folder = Path("mlruns") / ".staging" / str(owner) / str(t.number)
        inv._log_trial(tracker, t, folder, {"hedgeopt.adopted": "true"})


def _run_worker_pool(study: optuna.Study, inv: Invocation, invocation: str,
                     tasks: list[WorkerTask]) -> None:
    """Run the workers; when one dies (SIGKILL, out of memory, a crash), start them again.

    loky stops every worker of a pool once one of them dies, so the lost trials (the dead
    worker's and its siblings') are failed and queued for a retry with the same params, and a
    fresh pool, with fresh sampler seeds, carries on. More than ``max_failures`` such deaths
    end the invocation.
    """
    from dataclasses import replace

    from joblib.externals.loky.process_executor import TerminatedWorkerError

    if deterministic_mode(inv.cfg):  # batches asked here, told before the next
        run_batches(study, inv.cfg, inv.settings, inv.space, tasks, invocation, say)
        return
    restarts = 0
    while True:
        try:
            Parallel(n_jobs=len(tasks), backend="loky")(delayed(run_worker)(t) for t in tasks)
            return
        except TerminatedWorkerError:
            restarts += 1
            _stop_workers()
            lost = reap_orphans(study, "worker lost: its process died during the trial", invocation)
            if restarts > inv.settings.max_failures:
                raise
            say(f"hedgeopt: a worker process died; {lost} trial(s) will be retried, restarting "
                f"the workers ({restarts} of at most {inv.settings.max_failures})")
            tasks = [replace(t, sampler_seed=worker_seed(t.sampler_seed, restarts, t.worker))
                     for t in tasks]


def _run_workers(study: optuna.Study, tracker: Tracker, inv: Invocation, invocation: str,
                 staging: Path, tasks: list[WorkerTask], n_counted: int, remaining: int) -> None:
    if not remaining:
        return
    bar = None
    if inv.settings.progress:
        from tqdm import tqdm

        bar = tqdm(total=inv.settings.n_trials, initial=n_counted, desc=inv.settings.study_name,
                   unit="trial", file=sys.stderr, dynamic_ncols=True, leave=True)
    stop = threading.Event()
    poller = threading.Thread(target=inv.poll_forever,
                              args=(stop, study, tracker, invocation, staging, bar), daemon=True)
    poller.start()
    try:
        _run_worker_pool(study, inv, invocation, tasks)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        stop.set()
        poller.join()
        inv.poll(study, tracker, invocation, staging, bar)
        raise StudyFailed(f"a worker failed: {type(exc).__name__}: "
                          f"{(str(exc).strip().splitlines() or [''])[-1][:300]}") from exc
    finally:
        stop.set()
        poller.join()
        if bar is not None:
            try:
                inv.poll(study, tracker, invocation, staging, bar)
            finally:
                bar.close()
    inv.poll(study, tracker, invocation, staging, None)
    if inv.error is not None:
        say(f"hedgeopt: warning: MLflow logging hiccup: {inv.error}")


def _finish(study: optuna.Study, tracker: Tracker, inv: Invocation, invocation: str,
            n_workers: int, inner: int) -> str:
    settings, cfg = inv.settings, inv.cfg
    trials = study.get_trials(deepcopy=False)
    counts = _state_counts(trials)
    failures = invocation_failures(study, invocation)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    tracker.log_metrics(invocation, {f"trials_{k.lower()}": v for k, v in counts.items()})
    if not complete:
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON) if failures else "no trial completed"
        raise StudyFailed(f"no trial completed in study {settings.study_name}; last failure: {reason}")

    if settings.multi_objective:
        front = study.best_trials
        best = _knee(front, settings.directions)
    else:
        front = []
        best = study.best_trial
    best_params = dict(best.params)
    in_sample = trial_metrics(best)

    out_dir = Path("mlruns") / ".staging" / invocation / "_study"
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_info = [{"number": t.number, "state": t.state.name, "params": dict(t.params),
                    "metrics": trial_metrics(t)} for t in trials if t.state.is_finished()]
    say("hedgeopt: scoring the best config out-of-sample and running the baselines")
    best_dir = out_dir / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    jobs = [("evaluate", (best_params, NullReporter(best_dir.resolve()))), ("baselines", ()),
            ("plots", (best_params, trials_info, out_dir.resolve()))]
    task_seconds: dict[str, float] = {}
    # on the early worker, in order; its plots are collected after the statistics
    pending = start_final_tasks(jobs, inv.early, task_seconds)
    # the framework's figures are drawn here while the workers score the best config
    framework_figures: list[Path] = []
    framework = threading.Thread(target=lambda: framework_figures.extend(
        _framework_figures(study, trials, front, settings, out_dir)), daemon=True)
    framework.start()
    if pending is None:
        results = run_final_tasks(cfg, inv.key, inner, jobs, min(n_workers, len(jobs)),
                                  timings=task_seconds)
    else:
        results = [pending[0].result(), pending[1].result(), pending[2]]
    oos_result, raw_baselines = results[0], dict(results[1] or {})
    inv.clock.mark("out-of-sample, baselines, study plots")
    out_of_sample = metrics_of(oos_result)
    baselines = {name: {split: metrics_of(res) for split, res in splits.items()}
                 for name, splits in raw_baselines.items()}
    confidence = assess_study(settings.metrics, settings.directions, in_sample, oos_result,
                              raw_baselines, trials, ATTR_SAMPLES_PREFIX,
                              worker_seed(settings.seed, 0, 0xA55E55))
    inv.clock.mark("statistics")

    plot_paths = list((results[2].result() if pending is not None else results[2]) or [])
    for method, seconds in task_seconds.items():
        inv.clock.detail(f"worker: {method}", seconds)
    figures = [Path(p) for p in plot_paths]
    framework.join()
    figures.extend(framework_figures)
    inv.clock.mark("framework plots")

    metadata = {
        "study": settings.study_name, "objective": settings.objective_target,
        "metrics": list(settings.metrics), "directions": list(settings.directions),
        "best_trial": best.number,
        "values": dict(zip(settings.metrics, best.values, strict=False)),
        "n_trials": counts, "date": export_mod.now_iso(), "code_version": export_mod.code_version(),
        "mlflow_run_id": invocation,
        "mlflow_trial_run_id": tag_best_run(
            tracker, invocation, best.number,
            inv.run_ids.get(best.number) or tracker.trial_run_id(best.number)),
        "mlflow_tracking_uri": mask_url(settings.tracking_uri), "storage": settings.storage.masked,
        "seed": settings.seed, "sampler": cfg["sampler"].get("_target_"),
        "fingerprint": study.user_attrs.get(ATTR_FINGERPRINT),
        "deterministic": deterministic_mode(cfg),
    }
    pareto = [{"trial": t.number, "values": dict(zip(settings.metrics, t.values, strict=False)),
               "params": dict(t.params)} for t in front]
    doc = export_mod.build_export(best_params, metadata, in_sample, out_of_sample, baselines, pareto,
                                  confidence)
    ypath, opath, jpath = export_mod.write_export(doc, settings.export_dir, settings.study_name)

    for f in figures:
        if Path(f).is_file():
            tracker.log_artifact(invocation, Path(f), "plots")
    if any(best_dir.iterdir()):  # what the objective keeps of the best config (weights, curves)
        tracker.client.log_artifacts(invocation, str(best_dir), "best")
        _log_model(tracker, invocation, inv, n_workers, inner, best_dir, best_params)
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
    tracker.log_history(invocation, {t.number: t.values for t in complete}, settings.metrics,
                        settings.directions)
    verdict = confidence["verdict"]
    tracker.client.set_tag(invocation, "hedgeopt.verdict", str(verdict.get("outcome")))
    if verdict.get("best_baseline"):
        tracker.client.set_tag(invocation, "hedgeopt.best_baseline", str(verdict["best_baseline"]))
    try:
        df = study.trials_dataframe()
        tracker.log_text(invocation, df.to_csv(index=False), "trials.csv")
    except Exception:
        pass
    text = report.summary(settings.study_name, counts, best_params, in_sample, out_of_sample,
                          baselines, settings.metrics, [ypath, opath, jpath],
                          ui_command(settings.tracking_uri),
                          tracker.experiment_id, summary_lines(confidence))
    summary = {"study": settings.study_name, "counts": counts, "best_trial": best.number,
               "best_params": best_params, "in_sample": in_sample, "out_of_sample": out_of_sample,
               "failures_this_invocation": len(failures), "confidence": confidence}
    tracker.log_text(invocation, json.dumps(export_mod._plain(summary), indent=2), "study_summary.json")
    tracker.log_text(invocation, text, "summary.txt")
    print(text, flush=True)
    if len(failures) >= settings.max_failures:
        reason = failures[-1].user_attrs.get(ATTR_FAIL_REASON)
        say(f"hedgeopt: error: {len(failures)} trials failed (max_failures={settings.max_failures}); "
            f"last: {reason}")
        return "FAILED"
    return "FINISHED"


def _log_model(tracker: Tracker, invocation: str, inv: Invocation, n_workers: int, inner: int,
               best_dir: Path, best_params: Mapping[str, Any]) -> None:
    """``Objective.model()`` of the best config, logged as an MLflow model when there is one."""
    try:
        [model] = Parallel(n_jobs=n_workers, backend="loky")(
            [delayed(run_task)(inv.cfg, inv.key, inner, "model", (best_dir.resolve(),))])
        if model is not None:
            tracker.log_model(invocation, model, inv.settings.study_name, best_params)
    except Exception as exc:  # noqa: BLE001  (the export stands without the model)
        say(f"hedgeopt: warning: the best config's model was not logged: {type(exc).__name__}: {exc}")


def _framework_figures(study: optuna.Study, trials: list[optuna.trial.FrozenTrial],
                       front: list[optuna.trial.FrozenTrial], settings: StudySettings,
                       out_dir: Path) -> list[Path]:
    """Optimisation history, Pareto front (multi-objective) and parameter importance."""
    figures = [report.optimization_history(trials, settings.metrics[0], settings.directions[0],
                                           out_dir / "optimization_history.png")]
    if settings.multi_objective and len(settings.metrics) >= 2:
        figures.append(report.pareto_front(trials, front, settings.metrics,
                                           settings.directions, out_dir / "pareto_front.png"))
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
            imp = optuna.importance.get_param_importances(
                study, target=(lambda t: sign * t.values[0]) if settings.multi_objective else None
            ) if len(complete) >= 2 else {}
        if imp:
            figures.append(report.param_importance(imp, out_dir / "param_importance.png"))
    except Exception:  # noqa: BLE001, S110
        pass  # no varying parameter
    return figures


def run_replay(cfg: dict[str, Any], settings: StudySettings, space: SearchSpace,
               params: dict[str, Any] | None = None) -> int:
    """Evaluate an exported config out-of-sample, as its own MLflow run; no search."""
    if params is None:  # the CLI passes the params it has already read and checked
        params = export_mod.read_replay(settings.replay or "", space)
    tracker = Tracker(settings.tracking_uri, settings.study_name, settings.artifact_location)
    run_name = f"{settings.study_name}-replay-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = tracker.start_parent(run_name, params, {"hedgeopt.role": "replay",
                                                     "hedgeopt.study": settings.study_name,
                                                     "hedgeopt.replay_of": str(settings.replay)})
    status = "FAILED"
    try:
        tracker.log_artifact(run_id, Path(settings.replay or ""), "replayed")
        key = config_key(cfg)
        inner = max(1, os.cpu_count() or 1)
        limit_threads(inner)
        [result] = Parallel(n_jobs=1, backend="loky")(
            delayed(run_task)(cfg, key, inner, "evaluate", (params,)) for _ in range(1))
        metrics = {k: float(v) for k, v in metrics_of(result).items()}
        tracker.dataset = run_task(cfg, key, inner, "dataset", ())  # built above, in this process
        tracker.log_dataset(run_id, "evaluation")
        seed = worker_seed(settings.seed, 0, 0xA55E55)
        intervals = {m: assess_metric(m, d, result, {}, seed)["best"]
                     for m, d in zip(settings.metrics, settings.directions, strict=True)}
        for m, iv in intervals.items():
            if iv.get("low") is not None:
                metrics.update({f"{m}.low": float(iv["low"]), f"{m}.high": float(iv["high"])})
        tracker.log_metrics(run_id, metrics)
        print(report.table([(k, v) for k, v in metrics.items()], ["metric", "out-of-sample"]))
        print(f"\nReplay logged as MLflow run {run_id}: {ui_command(settings.tracking_uri)}")
        status = "FINISHED"
        return EXIT_OK
    except Exception as exc:
        say(f"hedgeopt: error: replay failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        tracker.finish(run_id, status)
