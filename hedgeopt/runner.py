"""One invocation of a study: workers search, the parent logs, then export and report.

The parent process never runs trials. It creates (or loads) the Optuna study, opens the
MLflow parent run, starts the worker processes through joblib (loky), and while they work it
polls the storage: every trial its workers finish becomes a nested MLflow run, and the
progress bar moves. When the workers stop it scores the best config out-of-sample, collects
baselines and plots (in the same worker processes, whose objectives are already built),
writes the export and prints the summary.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from joblib import Parallel, delayed

from hedgeopt import export as export_mod
from hedgeopt import summary
from hedgeopt.assessment import assess_metric, assessment_seed
from hedgeopt.config import ConfigError
from hedgeopt.deterministic import deterministic_mode, run_batches
from hedgeopt.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from hedgeopt.figures import preload_plotting
from hedgeopt.final_tasks import EarlyTasks
from hedgeopt.fingerprint import identify_study, resume_mode
from hedgeopt.finish import StudyFailed, finish_study
from hedgeopt.framework_keys import FRAMEWORK_KEYS, SETTINGS_KEYS
from hedgeopt.invocation import Invocation, config_key, masked_config, say, ui_command
from hedgeopt.phases import PhaseClock
from hedgeopt.protocol import flatten, metrics_of
from hedgeopt.samplers import worker_seed
from hedgeopt.search_space import SearchSpace
from hedgeopt.settings import StudySettings
from hedgeopt.storage import (
    ATTR_INVOCATION,
    count_trials,
    open_storage,
    reap_orphans,
    slot_lock,
)
from hedgeopt.tracking import Tracker
from hedgeopt.worker import WorkerTask, limit_threads, prewarm, run_task, run_worker


def _create_study(settings: StudySettings, cfg: Mapping[str, Any] | None = None) -> optuna.Study:
    storage = open_storage(settings.storage)
    try:  # loading first: a journal would record even a failed create
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
    except KeyError:
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=storage,
            directions=list(settings.directions),
            load_if_exists=True,
        )
    existing = [d.name.lower() for d in study.directions]
    if existing != list(settings.directions):
        raise ConfigError(
            f"study {settings.study_name!r} already exists in "
            f"{settings.storage.masked} with directions {existing}, not "
            f"{list(settings.directions)}; choose another study_name"
        )
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
    parent_params = {k: cfg.get(k) for k in SETTINGS_KEYS if k in cfg}
    parent_params["storage"] = settings.storage.masked
    parent_params["sampler"] = cfg["sampler"].get("_target_")
    parent_params["pruner"] = cfg["pruner"].get("_target_")
    parent_params["objective"] = settings.objective_target
    parent_params["workers"] = n_workers_max
    domain = {k: v for k, v in cfg.items() if k not in FRAMEWORK_KEYS}
    parent_params.update(flatten(domain))
    invocation = tracker.start_parent(
        f"{settings.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
        parent_params,
        {"hedgeopt.study": settings.study_name, "hedgeopt.storage": settings.storage.masked},
    )
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
        tasks = [
            WorkerTask(
                cfg,
                inv.key,
                w,
                worker_seed(settings.seed, n_counted, base + w),
                invocation,
                str(staging.resolve()),
                deadline,
                inner,
            )
            for w in range(n_workers)
        ]
        if remaining:
            say(
                f"hedgeopt: study {settings.study_name}: {n_counted} of {settings.n_trials} trials "
                f"done, running {remaining} more on {n_workers} worker(s); storage "
                f"{settings.storage.masked}"
            )
        else:
            say(
                f"hedgeopt: study {settings.study_name} already has {n_counted} trials "
                f"(n_trials={settings.n_trials}); exporting"
            )
        clock.mark("parent run, adoption")
        # the parent idles while its workers search: import what the export will draw with
        threading.Thread(target=preload_plotting, daemon=True).start()
        t_search = time.perf_counter()
        _run_workers(study, tracker, inv, invocation, staging, tasks, n_counted, remaining)
        if remaining and inv.logged:
            # search throughput as a user sees it: workers started -> every trial logged
            search_s = time.perf_counter() - t_search
            tracker.log_metrics(
                invocation, {"search_seconds": search_s, "trials_per_s": len(inv.logged) / search_s}
            )
        if remaining:  # trials of dead invocations that heartbeats failed meanwhile
            _adopt_unlogged(study, tracker, inv)
        clock.mark("search")
        status = finish_study(study, tracker, inv, invocation, n_workers, inner)
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
        say(
            f"hedgeopt: interrupted with {n} of {settings.n_trials} trials done; run the same "
            "command again to resume"
        )
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


def _prewarm_workers(cfg: dict[str, Any], settings: StudySettings, study: optuna.Study) -> threading.Thread:
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
                delayed(prewarm)(cfg, key, inner) for _ in range(n_workers)
            )
        except BaseException:  # the search itself reports set-up failures
            pass

    thread = threading.Thread(target=warm, daemon=True)
    thread.start()
    return thread


def _describe_dataset(
    cfg: dict[str, Any], settings: StudySettings, study: optuna.Study
) -> Mapping[str, Any] | None:
    """``Objective.dataset()``, asked of a warm worker (the parent never builds objectives)."""
    _, n_workers, inner = _worker_plan(settings, count_trials(study)[0])
    try:
        [desc] = Parallel(n_jobs=n_workers, backend="loky")(
            [delayed(run_task)(cfg, config_key(cfg), inner, "dataset", ())]
        )
    except Exception as exc:  # noqa: BLE001  (the search reports set-up failures itself)
        say(f"hedgeopt: warning: no dataset logged: {type(exc).__name__}: {exc}")
        return None
    return desc


def _start_early_tasks(
    cfg: dict[str, Any], settings: StudySettings, study: optuna.Study
) -> EarlyTasks | None:
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


def _run_worker_pool(study: optuna.Study, inv: Invocation, invocation: str, tasks: list[WorkerTask]) -> None:
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
            say(
                f"hedgeopt: a worker process died; {lost} trial(s) will be retried, restarting "
                f"the workers ({restarts} of at most {inv.settings.max_failures})"
            )
            tasks = [replace(t, sampler_seed=worker_seed(t.sampler_seed, restarts, t.worker)) for t in tasks]


def _run_workers(
    study: optuna.Study,
    tracker: Tracker,
    inv: Invocation,
    invocation: str,
    staging: Path,
    tasks: list[WorkerTask],
    n_counted: int,
    remaining: int,
) -> None:
    if not remaining:
        return
    bar = None
    if inv.settings.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=inv.settings.n_trials,
            initial=n_counted,
            desc=inv.settings.study_name,
            unit="trial",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
    stop = threading.Event()
    poller = threading.Thread(
        target=inv.poll_forever, args=(stop, study, tracker, invocation, staging, bar), daemon=True
    )
    poller.start()
    try:
        _run_worker_pool(study, inv, invocation, tasks)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        stop.set()
        poller.join()
        inv.poll(study, tracker, invocation, staging, bar)
        raise StudyFailed(
            f"a worker failed: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1][:300]}"
        ) from exc
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


def run_replay(
    cfg: dict[str, Any], settings: StudySettings, space: SearchSpace, params: dict[str, Any] | None = None
) -> int:
    """Evaluate an exported config out-of-sample, as its own MLflow run; no search."""
    if params is None:  # the CLI passes the params it has already read and checked
        params = export_mod.read_replay(settings.replay or "", space)
    tracker = Tracker(settings.tracking_uri, settings.study_name, settings.artifact_location)
    run_name = f"{settings.study_name}-replay-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = tracker.start_parent(
        run_name,
        params,
        {
            "hedgeopt.role": "replay",
            "hedgeopt.study": settings.study_name,
            "hedgeopt.replay_of": str(settings.replay),
        },
    )
    status = "FAILED"
    try:
        tracker.log_artifact(run_id, Path(settings.replay or ""), "replayed")
        key = config_key(cfg)
        inner = max(1, os.cpu_count() or 1)
        limit_threads(inner)
        [result] = Parallel(n_jobs=1, backend="loky")(
            delayed(run_task)(cfg, key, inner, "evaluate", (params,)) for _ in range(1)
        )
        metrics = {k: float(v) for k, v in metrics_of(result).items()}
        tracker.dataset = run_task(cfg, key, inner, "dataset", ())  # built above, in this process
        tracker.log_dataset(run_id, "evaluation")
        seed = assessment_seed(settings.seed)
        intervals = {
            m: assess_metric(m, d, result, {}, seed)["best"]
            for m, d in zip(settings.metrics, settings.directions, strict=True)
        }
        for m, iv in intervals.items():
            if iv.get("low") is not None:
                metrics.update({f"{m}.low": float(iv["low"]), f"{m}.high": float(iv["high"])})
        tracker.log_metrics(run_id, metrics)
        print(summary.table([(k, v) for k, v in metrics.items()], ["metric", "out-of-sample"]))
        print(f"\nReplay logged as MLflow run {run_id}: {ui_command(settings.tracking_uri)}")
        status = "FINISHED"
        return EXIT_OK
    except Exception as exc:
        say(f"hedgeopt: error: replay failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        tracker.finish(run_id, status)
