"""MLflow logging: one parent run per invocation, one nested run per trial.

Only the invocation's parent process talks to MLflow (a single writer, so a SQLite store never
sees concurrent writers and a killed worker never leaves a run open). It turns finished Optuna
trials into nested runs: params, metrics, intermediate values as step metrics, state tags,
the failure reason, and the trial's own artifacts (its ``trial.yaml`` overlay plus whatever the
objective left in the trial's folder).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hedgeopt.intermediate_values import step_metrics
from hedgeopt.mlflow_extras import mlflow_dataset as mlflow_dataset
from hedgeopt.mlflow_extras import results_table as results_table
from hedgeopt.mlflow_extras import source_tags
from hedgeopt.mlflow_store import is_local, relocate_copied_store, store_lock, use_wal
from hedgeopt.protocol import flatten as flatten
from hedgeopt.protocol import nest as nest

ROLE = "hedgeopt.role"
TRIAL_NUMBER = "hedgeopt.trial_number"
TRIAL_STATE = "hedgeopt.trial_state"
FAIL_REASON = "hedgeopt.fail_reason"
RETRY_OF = "hedgeopt.retry_of"
PARENT = "mlflow.parentRunId"
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def _ms(dt: Any) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def _param_value(v: Any) -> str:
    s = repr(v) if isinstance(v, float) else str(v)
    return s[:6000]


class Tracker:
    """The MLflow side of one invocation."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_location: str | None) -> None:
        # MLflow's usage telemetry wraps every client call (a few ms each) and phones home
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow

        from hedgeopt.store_template import open_client

        self._mlflow = mlflow
        self.tracking_uri = tracking_uri
        # With a tracking server MLflow prints "View run at <tracking URI>" for every run it
        # ends: noise over the progress bar, and a leak of any password in the URI.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        with store_lock(tracking_uri):  # two invocations must not both create the tables
            self.client, exp = open_client(tracking_uri, experiment)  # a new store: from a template
            if exp is None:
                self.experiment_id = self._create_experiment(experiment, artifact_location)
            else:
                self.experiment_id = exp.experiment_id
                if artifact_location is None:
                    relocate_copied_store(tracking_uri, exp.experiment_id, exp.artifact_location)
            if exp is None or EXPERIMENT_KIND not in exp.tags:
                # without it MLflow 3's UI opens the experiment on a GenAI traces overview
                self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
            use_wal(tracking_uri)
        self.parent_id: str | None = None
        self.dataset: Mapping[str, Any] | None = None  # Objective.dataset(), logged on every run
        self.source_tags = source_tags()

    def _create_experiment(self, experiment: str, artifact_location: str | None) -> str:
        location = artifact_location
        if location is None and is_local(self.tracking_uri):
            location = (Path("mlruns") / "artifacts").resolve().as_uri()
        try:
            return self.client.create_experiment(experiment, artifact_location=location)
        except Exception:  # created by a concurrent invocation
            return self.client.get_experiment_by_name(experiment).experiment_id

    # ------------------------------------------------------------------ parent run
    def start_parent(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        all_tags = {
            ROLE: "study",
            "hedgeopt.host": socket.gethostname(),
            "hedgeopt.pid": str(os.getpid()),
            **self.source_tags,
            **tags,
        }
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=run_name)
        self.parent_id = run.info.run_id
        self.log_params(self.parent_id, params)
        self.log_dataset(self.parent_id, "evaluation")
        return self.parent_id

    def log_dataset(self, run_id: str, context: str) -> None:
        """Log :attr:`dataset` as the run's MLflow dataset input (the UI's Dataset column)."""
        if not self.dataset:
            return
        from mlflow.entities import DatasetInput, InputTag

        self.client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(mlflow_dataset(self.dataset), tags=[InputTag("mlflow.data.context", context)])
            ],
        )

    def log_model(self, run_id: str, model: Any, name: str, params: Mapping[str, Any]) -> str | None:
        """A trained torch module as an MLflow PyTorch model of ``run_id``; returns its model id.

        Saved in MLflow's pickle format (the hedger's forward pass is a Python loop over time
        steps, which the traced ``pt2`` format cannot capture in general); loading it back with
        ``mlflow.pytorch.load_model("models:/<id>")`` needs hedgeopt's packages importable.
        """
        import logging
        import tempfile

        import torch

        if not isinstance(model, torch.nn.Module):
            return None
        import mlflow.pytorch
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        quiet = logging.getLogger("mlflow.pytorch")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the pickle-format caution: chosen on purpose, see above
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model"
                mlflow.pytorch.save_model(
                    model,
                    str(path),
                    serialization_format="pickle",
                    pip_requirements=[f"torch=={torch.__version__}"],
                )
                logged = self.client.create_logged_model(
                    self.experiment_id,
                    name=name,
                    source_run_id=run_id,
                    model_type="pytorch",
                    params={k: _param_value(v) for k, v in params.items()},
                )
                self.client.log_model_artifacts(logged.model_id, str(path))
        finally:
            quiet.setLevel(level)
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        return logged.model_id

    def log_history(
        self,
        run_id: str,
        values: Mapping[int, Sequence[float]],
        metric_names: Sequence[str],
        directions: Sequence[str],
    ) -> None:
        """Each completed trial's optimised values as step metrics of the parent run.

        ``trials.<m>`` at step = trial number and ``trials.best_<m>`` (best so far): the chart
        view, which shows the parent while its trial runs are folded under it, then opens on
        the optimisation history rather than on one-bar charts.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        best: dict[str, float] = {}
        items = []
        for number in sorted(values):
            for name, direction, v in zip(metric_names, directions, values[number], strict=False):
                v = float(v)
                better = max if direction == "maximize" else min
                best[name] = better(best.get(name, v), v)
                key = _metric_key(name)
                items += [
                    Metric(f"trials.{key}", v, now, int(number)),
                    Metric(f"trials.best_{key}", best[name], now, int(number)),
                ]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def log_table(self, run_id: str, table: Any, name: str) -> None:
        """A pandas DataFrame as ``name.csv`` and ``name.html`` artifacts (the UI shows the HTML)."""
        self.client.log_text(run_id, table.to_csv(), f"{name}.csv")
        self.client.log_text(
            run_id, table.to_html(float_format=lambda v: f"{v:,.6g}", na_rep=""), f"{name}.html"
        )

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k)[:250], _param_value(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(_metric_key(k), float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def finish(self, run_id: str, status: str) -> None:
        """End the run; if the store refuses (locked, gone), say so and carry on.

        This runs while an invocation is already ending (often because of an error); the next
        invocation marks a parent run whose process is gone as KILLED.
        """
        try:
            self.client.set_terminated(run_id, status=status)
        except Exception as exc:  # noqa: BLE001 - the store's own errors; ending must not raise
            import sys

            from hedgeopt.storage import mask_url

            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            print(
                f"hedgeopt: warning: could not mark MLflow run {run_id} {status}: "
                f"{mask_url(first)}; the next invocation of the study closes it",
                file=sys.stderr,
                flush=True,
            )

    # ------------------------------------------------------------------ trial runs
    def log_trial(
        self,
        trial: Any,
        directions: tuple[str, ...],
        metric_names: tuple[str, ...],
        overlay: Mapping[str, Any],
        artifact_dir: Path | None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> str:
        """Log one finished Optuna trial as a nested run; returns the run id."""
        from mlflow.entities import Metric, Param

        state = trial.state.name
        tags = {
            ROLE: "trial",
            PARENT: self.parent_id or "",
            TRIAL_NUMBER: str(trial.number),
            TRIAL_STATE: state,
            "hedgeopt.optuna_trial_id": str(trial._trial_id),
            **self.source_tags,
        }
        reason = trial.user_attrs.get("hedgeopt.fail_reason")
        if state == "FAIL":
            tags[FAIL_REASON] = str(reason or "interrupted: the worker stopped during the trial")
        retry_of = (trial.system_attrs or {}).get("failed_trial")
        if retry_of is not None:  # a retry, with the same params, of a trial whose worker was lost
            tags[RETRY_OF] = str(retry_of)
        if extra_tags:
            tags.update(extra_tags)
        run = self.client.create_run(
            self.experiment_id,
            start_time=_ms(trial.datetime_start),
            tags=tags,
            run_name=f"trial-{trial.number:04d}",
        )
        run_id = run.info.run_id
        ts = _ms(trial.datetime_complete) or int(time.time() * 1000)
        params = [Param(k[:250], _param_value(v)) for k, v in trial.params.items()]
        metrics = []
        for key, value in trial.user_attrs.items():
            if key.startswith("metric."):
                metrics.append(Metric(_metric_key(key[len("metric.") :]), float(value), ts, 0))
        if trial.values is not None:
            for name, value in zip(metric_names, trial.values, strict=False):
                metrics.append(Metric("objective." + _metric_key(name), float(value), ts, 0))
        for name, value, step in step_metrics(trial.user_attrs, metric_names[0]):
            metrics.append(Metric(_metric_key(name), value, ts, step))
        self.client.log_batch(run_id, metrics=metrics[:1000], params=params[:100])
        self.log_dataset(run_id, "training")
        text = yaml.safe_dump(dict(overlay), sort_keys=False)
        if artifact_dir is not None and artifact_dir.is_dir():
            # one artifact upload for the trial's folder, trial.yaml included
            (artifact_dir / "trial.yaml").write_text(text)
            self.client.log_artifacts(run_id, str(artifact_dir))
        else:
            self.client.log_text(run_id, text, "trial.yaml")
        status = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}.get(state)
        if status is None:
            status = "FAILED" if trial.user_attrs.get("hedgeopt.counted") else "KILLED"
        self.client.set_terminated(run_id, status=status, end_time=ts)
        return run_id

    def logged_trial_numbers(self, abandoned: set[str] | None = None) -> set[int]:
        """Trial numbers that already have a complete run in this experiment (any invocation).

        A trial run still RUNNING under an ``abandoned`` parent was cut off mid-logging by a
        kill: it is deleted here, so that the trial is logged again, whole.
        """
        numbers: set[int] = set()
        for r in self._runs_by_role("trial"):
            n = r.data.tags.get(TRIAL_NUMBER)
            if n is None:
                continue
            if r.info.status == "RUNNING" and abandoned is not None and r.data.tags.get(PARENT) in abandoned:
                self.client.delete_run(r.info.run_id)
                continue
            numbers.add(int(n))
        return numbers

    def _runs_by_role(self, role: str) -> Iterator[Any]:
        """Every run of this experiment tagged with ``role``, fetched a page at a time."""
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{ROLE}` = '{role}'",
                max_results=1000,
                page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def trial_run_id(self, number: int) -> str | None:
        """The run id of trial ``number``'s finished run in this experiment (any invocation)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{ROLE}` = 'trial' and tags.`{TRIAL_NUMBER}` = '{int(number)}'",
            max_results=50,
            order_by=["attributes.start_time DESC"],
        )
        for r in runs:
            if r.info.status != "RUNNING":
                return r.info.run_id
        return None

    def clean_staging(self, root: Path) -> int:
        """Remove the staging folders under ``root`` of this store's invocations that have ended.

        A killed invocation leaves its folder behind; folders of runs this store does not know
        (another tracking store sharing the working directory) are left alone.
        """
        n = 0
        if not root.is_dir():
            return 0
        for folder in root.iterdir():
            try:
                run = self.client.get_run(folder.name)
            except Exception:  # noqa: BLE001, S112 - not a run of this store
                continue
            tags = run.data.tags
            ended = run.info.status != "RUNNING" or (
                tags.get("hedgeopt.host") == socket.gethostname() and not _pid_alive(tags.get("hedgeopt.pid"))
            )
            if ended:
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
                n += 1
        return n

    def abandoned_invocations(self) -> set[str]:
        """Parent runs that no longer run: finished, or RUNNING but their process on this host is gone."""
        out: set[str] = set()
        for r in self._runs_by_role("study"):
            if r.info.status != "RUNNING":
                out.add(r.info.run_id)
            elif r.data.tags.get("hedgeopt.host") == socket.gethostname() and not _pid_alive(
                r.data.tags.get("hedgeopt.pid")
            ):
                self.client.set_terminated(r.info.run_id, status="KILLED")
                out.add(r.info.run_id)
        return out


def _pid_alive(pid: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)[:250]


def iter_new(trials: Iterable[Any], seen: set[int]) -> list[Any]:
    return [t for t in trials if t.number not in seen]
