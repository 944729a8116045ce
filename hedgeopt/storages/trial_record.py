"""A trial's record in the Optuna storage: the one module that writes and reads it.

What a worker records for a trial it ran, beside Optuna's own params and values:

- its metrics, one user attr ``metric.<name>`` each;
- its intermediate values, ``hedgeopt.steps``: rows ``[metric, step, value]`` (journals written
  before reports named their metric hold ``[step, value]`` rows, values of the first
  optimised metric);
- a completed trial's in-sample per-sample values of the optimised metrics, as one compressed
  array file under the workdir (:func:`hedgeopt.workdir.samples_file`), written atomically
  before the trial is told COMPLETE and named by the short attr ``hedgeopt.samples_file``
  (``{"path": relative to the workdir, "sha256": digest of the file}``); journals written
  before the file hold the values themselves in ``samples.<metric>`` attrs, which are still read;
- with them, ``statistic.<metric>``: how the trial's own statistic turns those samples into
  the metric (:func:`hedgeopt.stats.describe_statistic`), so that PBO scores trials with it.

Every other module goes through the functions here; the attr names (:mod:`hedgeopt.names`)
appear nowhere else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hedgeopt.names import (
    ATTR_METRIC_PREFIX,
    ATTR_SAMPLES_FILE,
    ATTR_SAMPLES_PREFIX,
    ATTR_STATISTIC_PREFIX,
    ATTR_STEPS,
    STEP_METRIC_SUFFIX,
)
from hedgeopt.workdir import samples_file

_NAMES = "__names__"  # the array in a samples file that lists its metrics, in order


class SamplesMissing(LookupError):
    """A trial's samples file is gone or is not the one its record names (digest mismatch)."""


# --------------------------------------------------------------------------- writing


def record_attrs(
    metrics: Mapping[str, float],
    steps: Sequence[tuple[str, int, float]] = (),
    statistics: Mapping[str, dict[str, Any] | None] | None = None,
    samples_ref: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The user attrs of a trial's record (one storage write: see ``journal_io.set_user_attrs``)."""
    attrs: dict[str, Any] = {ATTR_METRIC_PREFIX + name: value for name, value in metrics.items()}
    if steps:
        attrs[ATTR_STEPS] = [list(row) for row in steps]
    for name, desc in (statistics or {}).items():
        attrs[ATTR_STATISTIC_PREFIX + name] = desc
    if samples_ref:
        attrs[ATTR_SAMPLES_FILE] = dict(samples_ref)
    return attrs


def write_samples(
    workdir: str | Path, study_name: str, invocation: str, trial_number: int, samples: Mapping[str, Any]
) -> dict[str, str] | None:
    """Write a trial's per-sample values as one ``.npz`` (tmp file + ``os.replace``, so a reader
    sees the whole file or none); returns the reference its record stores (None: no samples)."""
    if not samples:
        return None
    rel = samples_file(study_name, invocation, trial_number)
    path = Path(workdir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"a{i}": np.asarray(v, dtype=float) for i, v in enumerate(samples.values())}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{_NAMES: np.array([str(k) for k in samples], dtype=str)}, **arrays)
    data = buf.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"path": rel.as_posix(), "sha256": hashlib.sha256(data).hexdigest()[:16]}


# --------------------------------------------------------------------------- reading


def trial_metrics(trial: Any) -> dict[str, float]:
    """Every metric the objective returned for ``trial`` (empty for a failed or pruned one)."""
    return {
        k[len(ATTR_METRIC_PREFIX) :]: float(v)
        for k, v in trial.user_attrs.items()
        if k.startswith(ATTR_METRIC_PREFIX)
    }


def step_metrics(user_attrs: Mapping[str, Any], first_metric: str) -> list[tuple[str, float, int]]:
    """``(MLflow key, value, step)`` of every stored intermediate value: ``<metric>_by_step``."""
    out = []
    for row in user_attrs.get(ATTR_STEPS) or []:
        if len(row) == 2:  # an older journal's [step, value]
            metric, (step, value) = first_metric, row
        else:
            metric, step, value = row
        out.append((f"{metric}{STEP_METRIC_SUFFIX}", float(value), int(step)))
    return out


def has_samples(trial: Any, metric: str) -> bool:
    """Whether ``trial``'s record names per-sample values of ``metric`` (a file or old attrs)."""
    return ATTR_SAMPLES_FILE in trial.user_attrs or ATTR_SAMPLES_PREFIX + metric in trial.user_attrs


def trial_samples(trial: Any, metric: str, workdir: str | Path) -> np.ndarray | None:
    """``trial``'s in-sample per-sample values of ``metric``, as stored (None: none recorded).

    Raises :class:`SamplesMissing` when the record names a file that is gone or changed.
    """
    attrs = trial.user_attrs
    if ATTR_SAMPLES_PREFIX + metric in attrs:  # a journal written before the samples file
        return np.asarray(attrs[ATTR_SAMPLES_PREFIX + metric], dtype=float)
    ref = attrs.get(ATTR_SAMPLES_FILE)
    if not ref:
        return None
    path = Path(workdir) / str(ref["path"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SamplesMissing(f"trial {trial.number}: its samples file {path} is missing") from exc
    if hashlib.sha256(data).hexdigest()[:16] != ref.get("sha256"):
        raise SamplesMissing(f"trial {trial.number}: its samples file {path} is not the one it wrote")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        names = [str(n) for n in npz[_NAMES]]
        return np.asarray(npz[f"a{names.index(metric)}"], dtype=float) if metric in names else None


def statistic_description(trial: Any, metric: str) -> dict[str, Any] | None:
    """The stored description of ``trial``'s in-sample statistic of ``metric``, or None."""
    return trial.user_attrs.get(ATTR_STATISTIC_PREFIX + metric)


@dataclass
class InSample:
    """The completed trials' in-sample values of one metric, as PBO takes them.

    ``matrix``: ``(trials, samples, k)``, None when fewer than 2 trials have values of the
    most common shape; ``statistic``: the description stored with the kept trials (the most
    common one) or None; ``missing``: why trials whose record names a file were left out.
    """

    matrix: np.ndarray | None
    statistic: dict[str, Any] | None
    missing: list[str] = field(default_factory=list)


def in_sample(trials: Sequence[Any], metric: str, workdir: str | Path) -> InSample:
    """:class:`InSample` of ``metric`` over ``trials``: COMPLETE ones with values, of the most
    common shape (a changed objective set-up leaves the others out)."""
    missing: list[str] = []
    done: list[tuple[Any, np.ndarray]] = []
    for t in trials:
        if t.state.name != "COMPLETE" or not has_samples(t, metric):
            continue
        try:
            values = trial_samples(t, metric, workdir)
        except SamplesMissing as exc:
            missing.append(str(exc))
            continue
        if values is not None:
            done.append((t, values))
    if len(done) < 2:
        return InSample(None, None, missing)
    shapes = [v.shape for _, v in done]
    common = max(set(shapes), key=shapes.count)
    kept = [(t, v) for t, v in done if v.shape == common]
    if len(kept) < 2:
        return InSample(None, None, missing)
    descs = [statistic_description(t, metric) for t, _ in kept]
    keys = [json.dumps(d, sort_keys=True) for d in descs if d]
    desc = json.loads(max(set(keys), key=keys.count)) if keys else None
    return InSample(np.stack([v for _, v in kept]), desc, missing)
