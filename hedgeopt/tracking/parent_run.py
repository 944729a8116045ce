"""What the parent run shows: the verdict in words, the search space, the description, the
optimisation history as step metrics, and the best config's model."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hedgeopt.names import (
    MLFLOW_NOTE,
    TAG_BEST_BASELINE,
    TAG_SEARCH_SPACE,
    TAG_VERDICT,
    TAG_VERDICT_TEXT,
)
from hedgeopt.tracking.run_record import MAX_METRICS, metric_key, param_value

MAX_TAG = 5000  # MLflow's tag values hold 8,000 characters; a one-line tag stays well below


def _num(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e5 else f"{v:.4g}"


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """The verdict in one line, e.g. ``ties whalley_wilmott: +2.5 [-9.4, 14.2]; prefer the baseline``.

    The difference is tuned minus baseline, out of sample, with its 95% interval; a verdict
    without an interval (point figures only, several metrics) is its own first sentence.
    """
    outcome = str(verdict.get("outcome") or "not assessed")
    ref = verdict.get("best_baseline")
    d = verdict.get("difference") or {}
    finite = all(
        isinstance(d.get(k), (int, float)) and math.isfinite(float(d[k])) for k in ("value", "low", "high")
    )
    if outcome in ("wins", "ties", "loses") and ref and finite:
        line = (
            f"{outcome} {ref}: {float(d['value']):+.3g} [{_num(float(d['low']))}, {_num(float(d['high']))}]"
        )
    elif outcome in ("wins", "ties", "loses") and ref:
        line = f"{outcome} {ref}"
    else:
        text = str(verdict.get("text") or outcome).split(". ")[0].rstrip(".")
        if verdict.get("prefer"):  # several metrics: a baseline dominates on the point figures
            text += f"; prefer the baseline {verdict['prefer']}"
        return text[:MAX_TAG]
    if verdict.get("prefer"):
        line += (
            f"; prefer the baseline {verdict['prefer']}"
            if verdict["prefer"] != ref
            else "; prefer the baseline"
        )
    elif outcome == "wins":
        line += "; prefer the tuned config"
    return line


def search_space_line(space: Any) -> str:
    """The tuned keys and their ranges, ``key [low, high] log; key {a, b}; ...``, cut to a tag's size."""
    parts = []
    for p in space.params:
        if p.kind == "categorical":
            part = f"{p.name} {{{', '.join(str(c) for c in p.choices)}}}"
        else:
            part = (
                f"{p.name} [{p.low}, {p.high}]"
                + (" log" if p.log else "")
                + (f" step {p.step}" if p.step else "")
            )
        if p.when:
            part += " when " + ", ".join(f"{k} in {list(v)}" for k, v in p.when.items())
        parts.append(part)
    line = "; ".join(parts)
    return line if len(line) <= MAX_TAG else line[: MAX_TAG - 40] + " ... (all in search_space.yaml)"


def log_search_space(tracker: Any, space: Any, raw: Mapping[str, Any] | None) -> None:
    """The search space as the parent run's ``search_space.yaml`` artifact and its one-line tag."""
    import yaml

    run_id = tracker.parent_id
    if raw:
        tracker.log_text(run_id, yaml.safe_dump(dict(raw), sort_keys=False), "search_space.yaml")
    if len(space):
        tracker.client.set_tag(run_id, TAG_SEARCH_SPACE, search_space_line(space))


def describe_parent(
    tracker: Any, verdict: Mapping[str, Any], best_number: int, best_run_id: str | None
) -> str:
    """Tag the verdict (code, baseline, words) and write the parent run's description; returns
    the line."""
    line = verdict_line(verdict)
    client, run_id = tracker.client, tracker.parent_id
    client.set_tag(run_id, TAG_VERDICT, str(verdict.get("outcome")))
    if verdict.get("best_baseline"):
        client.set_tag(run_id, TAG_BEST_BASELINE, str(verdict["best_baseline"]))
    client.set_tag(run_id, TAG_VERDICT_TEXT, line)
    best = f"trial {best_number}"
    if best_run_id is not None:
        best = f"[{best}](#/experiments/{tracker.experiment_id}/runs/{best_run_id})"
    note = (
        f"**Verdict: {line}** (tuned minus best baseline, out of sample, 95% interval)\n\n"
        f"{verdict.get('text', '')}\n\nBest trial: {best}"
    )
    client.set_tag(run_id, MLFLOW_NOTE, note)
    return line


def log_history(
    tracker: Any,
    values: Mapping[int, Sequence[float]],
    metric_names: Sequence[str],
    directions: Sequence[str],
) -> None:
    """Each completed trial's optimised values as step metrics of the tracker's parent run.

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
            key = metric_key(name)
            items += [
                Metric(f"trials.{key}", v, now, int(number)),
                Metric(f"trials.best_{key}", best[name], now, int(number)),
            ]
    for i in range(0, len(items), MAX_METRICS):
        tracker.client.log_batch(tracker.parent_id, metrics=items[i : i + MAX_METRICS])


def log_model(tracker: Any, model: Any, name: str, params: Mapping[str, Any]) -> str | None:
    """A trained torch module as an MLflow PyTorch model of the parent run; returns its model id.

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

    client, run_id = tracker.client, tracker.parent_id
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
            logged = client.create_logged_model(
                tracker.experiment_id,
                name=name,
                source_run_id=run_id,
                model_type="pytorch",
                params={k: param_value(v) for k, v in params.items()},
            )
            client.log_model_artifacts(logged.model_id, str(path))
    finally:
        quiet.setLevel(level)
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return logged.model_id
