"""``+replay=PATH``: evaluate an exported config out-of-sample, as its own MLflow run; no search.

The CLI reads and checks the file once (:func:`hedgeopt.results.replay_file.read_replay`) and passes the
params here; the file itself is logged as the run's artifact.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from hedgeopt.config.settings import StudySettings
from hedgeopt.errors import EXIT_FAILED, EXIT_OK
from hedgeopt.execution.executors import map_in_workers
from hedgeopt.execution.objective_builder import objective_key
from hedgeopt.execution.worker import run_task
from hedgeopt.names import ROLE_REPLAY, TAG_REPLAY_OF, TAG_ROLE, TAG_STUDY
from hedgeopt.protocol import metrics_of
from hedgeopt.results import summary
from hedgeopt.results.assessment import assess_metric
from hedgeopt.seeds import assessment_seed
from hedgeopt.study.invocation import say, ui_command
from hedgeopt.tracking.tracker import Tracker


def run_replay(cfg: dict[str, Any], settings: StudySettings, params: dict[str, Any]) -> int:
    """Evaluate ``params`` (read from ``settings.replay``) and log the run; the exit status."""
    replayed = Path(settings.replay or "")
    tracker = Tracker(
        settings.tracking_uri, settings.study_name, settings.artifact_location, settings.workdir
    )
    run_name = f"{settings.study_name}-replay-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = tracker.start_parent(
        run_name,
        params,
        {
            TAG_ROLE: ROLE_REPLAY,
            TAG_STUDY: settings.study_name,
            TAG_REPLAY_OF: str(settings.replay),
        },
    )
    status = "FAILED"
    try:
        tracker.log_artifact(run_id, replayed, "replayed")
        metrics = _evaluate(cfg, settings, params, tracker, run_id)
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


def _evaluate(
    cfg: dict[str, Any], settings: StudySettings, params: dict[str, Any], tracker: Tracker, run_id: str
) -> dict[str, float]:
    """The out-of-sample metrics of ``params``, with each optimised metric's interval."""
    key = objective_key(cfg)
    inner = max(1, os.cpu_count() or 1)
    [result] = map_in_workers(run_task, [(cfg, key, inner, "evaluate", (params,))], 1)  # in a worker process
    metrics = {k: float(v) for k, v in metrics_of(result).items()}
    tracker.dataset = run_task(cfg, key, inner, "dataset", ())  # built above, in this process
    tracker.log_dataset(run_id, "evaluation")
    seed = assessment_seed(settings.seed)
    for m, d in zip(settings.metrics, settings.directions, strict=True):
        interval = assess_metric(m, d, result, {}, seed)["best"]
        if interval.get("low") is not None:
            metrics.update({f"{m}.low": float(interval["low"]), f"{m}.high": float(interval["high"])})
    return metrics
