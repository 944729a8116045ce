"""A trial's record in the Optuna storage: the one module that writes and reads it.

What a worker records for a trial it ran, beside Optuna's own params, values and intermediate
values: its metrics (every one the objective returned), its intermediate values by metric
(rows ``[metric, step, value]``), a completed trial's in-sample per-sample values of the
optimised metrics and, with them, how the trial's own statistic turns those samples into the
metric (:func:`hedgeopt.stats.describe_statistic`, so that PBO scores trials with it).

Where it goes:

- one compressed ``.npz`` per trial, ``{workdir}/samples/<study>/<invocation>/<number>.npz``
  (:func:`hedgeopt.workdir.samples_file`), written whole (:func:`hedgeopt.storages.whole_file.write_whole`)
  before the trial is told COMPLETE; the trial's user attrs keep only the short
  ``hedgeopt.record``, the file's digest, so ``optuna trials`` rows and the journal stay small;
- with a storage other than a journal file (an RDB or Redis, whose invocations may run on
  other hosts with a workdir of their own) the metrics, steps and statistic are also written
  as attrs as before (``metric.<name>``, ``hedgeopt.steps``, ``statistic.<metric>``), so any
  host reads them; the per-sample values are in the file only (a host that cannot see it
  leaves that trial out of PBO, in one line);
- a pruned or failed trial whose file cannot be written keeps its steps in the attr;
- with ``executor.staging=mlflow`` (a worker that may not see the parent's workdir) the file
  is written into the trial's staged folder instead, as :data:`CARRIED`; it travels with the
  folder through MLflow's artifact repository and the parent, having fetched the folder, puts
  it where it is read (:func:`place_carried`) before logging the folder's other files.

Older journals are read as they are: ``metric.*`` / ``statistic.*`` / ``hedgeopt.steps``
attrs (``[step, value]`` rows before reports named their metric), per-sample values in
``samples.<metric>`` attrs, or in a file named by ``hedgeopt.samples_file``
(``{"path", "sha256"}``). A missing, changed or unreadable file is no crash: that trial has no
metrics or samples from it, and PBO says it left the trial out.

Every other module goes through the functions here; the attr names (:mod:`hedgeopt.names`)
appear nowhere else.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hedgeopt.names import (
    ATTR_METRIC_PREFIX,
    ATTR_RECORD,
    ATTR_SAMPLES_FILE,
    ATTR_SAMPLES_PREFIX,
    ATTR_STATISTIC_PREFIX,
    ATTR_STEPS,
    STEP_METRIC_SUFFIX,
    stamped,
)
from hedgeopt.storages.whole_file import write_whole
from hedgeopt.workdir import samples_file

_NAMES = "__names__"  # the array in a samples file that lists its metrics, in order
_RECORD = "__record__"  # the JSON of a record file's metrics, steps and statistics
_DIGEST = 12  # hex digits of the file's sha256 kept in the attr

#: A record file's name in a trial's staged folder (``executor.staging=mlflow``).
CARRIED = ".hedgeopt-record.npz"


class SamplesMissing(LookupError):
    """A trial's record file is gone, unreadable or not the one its record names."""


@dataclass(frozen=True)
class RecordFiles:
    """Where a study's trial record files lie: under ``workdir``, in the study's folder."""

    workdir: str | Path
    study_name: str


@dataclass(frozen=True)
class _Stored:
    """A record file as read back (cached: a file never changes under its digest)."""

    metrics: dict[str, float]
    steps: list[list[Any]]
    statistics: dict[str, Any]
    samples: dict[str, np.ndarray]


# --------------------------------------------------------------------------- writing


def record_attrs(
    metrics: Mapping[str, float],
    steps: Sequence[tuple[str, int, float]] = (),
    statistics: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """A trial's metrics, steps and statistic as user attrs (a storage other than a journal
    file, or a pruned/failed trial whose file could not be written)."""
    attrs: dict[str, Any] = {ATTR_METRIC_PREFIX + name: value for name, value in metrics.items()}
    if steps:
        attrs[ATTR_STEPS] = [list(row) for row in steps]
    for name, desc in (statistics or {}).items():
        attrs[ATTR_STATISTIC_PREFIX + name] = desc
    return attrs


def write_record(
    where: RecordFiles,
    invocation: str,
    trial_number: int,
    metrics: Mapping[str, float],
    steps: Sequence[tuple[str, int, float]] = (),
    statistics: Mapping[str, dict[str, Any] | None] | None = None,
    samples: Mapping[str, Any] | None = None,
    in_attrs: bool = False,
    carry: Path | None = None,
) -> dict[str, Any]:
    """Write a trial's record file (whole or not at all); returns the user attrs that name it
    (plus the record itself as attrs when ``in_attrs``). Nothing to record: no file, no attrs.

    ``carry``: the trial's staged folder, to write the file into (as :data:`CARRIED`) rather
    than under ``where``: the parent places it from there (:func:`place_carried`).
    """
    samples = dict(samples or {})
    if not (metrics or steps or samples):
        return {}
    if carry is None:
        path = Path(where.workdir) / samples_file(where.study_name, invocation, trial_number)
    else:
        path = carry / CARRIED
    doc = {
        "metrics": dict(metrics),
        "steps": [list(row) for row in steps],
        "statistics": dict(statistics or {}),
    }
    arrays = {f"a{i}": np.asarray(v, dtype=float) for i, v in enumerate(samples.values())}
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        **{_RECORD: np.array(json.dumps(doc)), _NAMES: np.array([str(k) for k in samples], dtype=str)},
        **arrays,
    )
    data = buf.getvalue()
    write_whole(path, data)
    attrs = record_attrs(metrics, steps, statistics) if in_attrs else {}
    attrs[ATTR_RECORD] = _digest(data)
    return attrs


def place_carried(trial: Any, folder: Path, where: RecordFiles) -> bool:
    """Move the record file a worker carried in ``folder`` (``trial``'s staged folder, fetched
    by the parent) to where it is read; whether one was placed. The carried copy goes in any
    case, so that it is never logged as one of the run's artifacts; one that cannot be placed
    leaves the trial as if its worker's file were out of sight (PBO says it left it out)."""
    src = folder / CARRIED
    if not src.is_file():
        return False
    named = _file_of(trial, where)
    try:
        if named is None:  # a record the trial's attrs do not name (its trial failed after)
            return False
        write_whole(named[0], src.read_bytes())
        return True
    except OSError:
        return False
    finally:
        src.unlink(missing_ok=True)


def steps_record(
    where: RecordFiles,
    invocation: str,
    trial_number: int,
    steps: Sequence[tuple[str, int, float]],
    in_attrs: bool = False,
) -> dict[str, Any]:
    """A pruned or failed trial's record (its steps): in a file, or in the attrs when the file
    cannot be written (the trial ends anyway; its steps are not worth a second failure)."""
    try:
        return write_record(where, invocation, trial_number, {}, steps, in_attrs=in_attrs)
    except OSError:
        return record_attrs({}, steps)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_DIGEST]


# --------------------------------------------------------------------------- reading


def _file_of(trial: Any, where: RecordFiles) -> tuple[Path, str] | None:
    """The record file ``trial``'s attrs name and its digest (None: no file named)."""
    attrs = trial.user_attrs
    if ATTR_RECORD in attrs:
        rel = samples_file(where.study_name, str(stamped(attrs, "invocation")), trial.number)
        return Path(where.workdir) / rel, str(attrs[ATTR_RECORD])
    ref = attrs.get(ATTR_SAMPLES_FILE)  # a journal written before the record file
    if ref:
        return Path(where.workdir) / str(ref["path"]), str(ref.get("sha256"))
    return None


def _stored(trial: Any, where: RecordFiles) -> _Stored | None:
    """``trial``'s record file as read back; raises :class:`SamplesMissing` when it is gone,
    changed or unreadable."""
    named = _file_of(trial, where)
    if named is None:
        return None
    path, digest = named
    try:
        return _read(str(path), digest)
    except SamplesMissing as exc:
        raise SamplesMissing(f"trial {trial.number}: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _read(path: str, digest: str) -> _Stored:
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise SamplesMissing(f"its samples file {path} is missing") from None
    if not digest or hashlib.sha256(data).hexdigest()[: len(digest)] != digest:
        raise SamplesMissing(f"its samples file {path} is not the one it wrote")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = [str(n) for n in npz[_NAMES]]
            samples = {n: np.asarray(npz[f"a{i}"], dtype=float) for i, n in enumerate(names)}
            doc = json.loads(str(npz[_RECORD])) if _RECORD in npz.files else {}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SamplesMissing(f"its samples file {path} cannot be read ({type(exc).__name__})") from None
    for values in samples.values():
        values.flags.writeable = False  # shared by every reader of the cache
    return _Stored(
        {k: float(v) for k, v in doc.get("metrics", {}).items()},
        doc.get("steps", []),
        doc.get("statistics", {}),
        samples,
    )


def _stored_or_none(trial: Any, where: RecordFiles) -> _Stored | None:
    try:
        return _stored(trial, where)
    except SamplesMissing:
        return None  # metrics and steps are then those in attrs, or none (in_sample says why)


def trial_metrics(trial: Any, where: RecordFiles) -> dict[str, float]:
    """Every metric the objective returned for ``trial`` (empty for a failed or pruned one)."""
    attrs = {
        k[len(ATTR_METRIC_PREFIX) :]: float(v)
        for k, v in trial.user_attrs.items()
        if k.startswith(ATTR_METRIC_PREFIX)
    }
    if attrs or ATTR_RECORD not in trial.user_attrs:
        return attrs
    stored = _stored_or_none(trial, where)
    return dict(stored.metrics) if stored else {}


def step_metrics(trial: Any, first_metric: str, where: RecordFiles) -> list[tuple[str, float, int]]:
    """``(MLflow key, value, step)`` of every stored intermediate value: ``<metric>_by_step``."""
    rows = trial.user_attrs.get(ATTR_STEPS)
    if rows is None and ATTR_RECORD in trial.user_attrs:
        stored = _stored_or_none(trial, where)
        rows = stored.steps if stored else None
    out = []
    for row in rows or []:
        if len(row) == 2:  # an older journal's [step, value]
            metric, (step, value) = first_metric, row
        else:
            metric, step, value = row
        out.append((f"{metric}{STEP_METRIC_SUFFIX}", float(value), int(step)))
    return out


def metric_columns(trials: Sequence[Any], where: RecordFiles) -> dict[str, list[float | None]]:
    """The trials' metrics, from attrs or record files, as the columns
    ``study.trials_dataframe()`` gives metric attrs (``user_attrs_metric.<name>``; None where a
    trial has none), so that ``trials.csv`` keeps them."""
    rows = [trial_metrics(t, where) for t in trials]
    names = dict.fromkeys(n for row in rows for n in row)
    return {f"user_attrs_{ATTR_METRIC_PREFIX}{n}": [row.get(n) for row in rows] for n in names}


def has_samples(trial: Any, metric: str) -> bool:
    """Whether ``trial``'s record may hold per-sample values of ``metric`` (a file or old attrs)."""
    attrs = trial.user_attrs
    return ATTR_RECORD in attrs or ATTR_SAMPLES_FILE in attrs or ATTR_SAMPLES_PREFIX + metric in attrs


def trial_samples(trial: Any, metric: str, where: RecordFiles) -> np.ndarray | None:
    """``trial``'s in-sample per-sample values of ``metric``, as stored (None: none recorded).

    Raises :class:`SamplesMissing` when the record names a file that is gone or changed.
    """
    attrs = trial.user_attrs
    if ATTR_SAMPLES_PREFIX + metric in attrs:  # a journal written before the samples file
        return np.asarray(attrs[ATTR_SAMPLES_PREFIX + metric], dtype=float)
    stored = _stored(trial, where)
    return None if stored is None else stored.samples.get(metric)


def statistic_description(trial: Any, metric: str, where: RecordFiles) -> dict[str, Any] | None:
    """The stored description of ``trial``'s in-sample statistic of ``metric``, or None."""
    key = ATTR_STATISTIC_PREFIX + metric
    if key in trial.user_attrs or ATTR_RECORD not in trial.user_attrs:
        return trial.user_attrs.get(key)
    stored = _stored_or_none(trial, where)
    return stored.statistics.get(metric) if stored else None


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


def in_sample(trials: Sequence[Any], metric: str, where: RecordFiles) -> InSample:
    """:class:`InSample` of ``metric`` over ``trials``: COMPLETE ones with values, of the most
    common shape (a changed objective set-up leaves the others out)."""
    missing: list[str] = []
    done: list[tuple[Any, np.ndarray]] = []
    for t in trials:
        if t.state.name != "COMPLETE" or not has_samples(t, metric):
            continue
        try:
            values = trial_samples(t, metric, where)
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
    descs = [statistic_description(t, metric, where) for t, _ in kept]
    keys = [json.dumps(d, sort_keys=True) for d in descs if d]
    desc = json.loads(max(set(keys), key=keys.count)) if keys else None
    return InSample(np.stack([v for _, v in kept]), desc, missing)
