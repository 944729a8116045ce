"""The objective protocol: the only part of hedgeopt that objectives see.

An objective is built once per worker process from its *domain config*: the composed study
config (a plain, resolved ``dict``) without the framework's keys (``seed``, ``metrics``,
``directions``, ``search_space``, ...: ``hedgeopt.framework_keys``), plus a
:class:`StudyContext` saying what of the framework's settings it may use: the seed and the
optimised metrics with their directions. Heavy set-up (data, simulated paths, caches, compiled
kernels) belongs in ``__init__``. It is then called once per trial with that trial's params,
keyed by the dotted config path they set (``"hedge.delta_threshold"``), and a
:class:`Reporter`. It returns a mapping of named, finite metrics; the study config names which
of them are optimised.

Figures: the framework selects matplotlib's headless Agg backend in every process where it
builds an objective, before building it, so :meth:`Objective.plots` (and any figure a trial
writes to its artifact folder) draws without a display; objectives never select a backend.

This module imports nothing from Optuna, MLflow or Hydra, so objectives stay plain numerics.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from hedgeopt.framework_keys import FRAMEWORK_KEYS
from hedgeopt.stats import CVaR, Mean, Sharpe, Statistic, cvar, default_block_length

__all__ = [
    "CVaR",
    "EdgeTest",
    "Evaluation",
    "Mean",
    "Metrics",
    "NullReporter",
    "Objective",
    "Reporter",
    "Sharpe",
    "Statistic",
    "StudyContext",
    "TrialPruned",
    "apply_params",
    "cvar",
    "default_block_length",
    "describe_file",
    "describe_settings",
    "get_path",
    "metrics_of",
]


class TrialPruned(Exception):
    """Raised by an objective when its reporter says the trial should stop early."""


@dataclass(frozen=True)
class StudyContext:
    """What the framework tells an objective beside its domain config.

    ``seed`` fixes every random path of the study (it also seeds the sampler); ``metrics`` are
    the names of the optimised metrics, in order, and ``directions`` their ``"minimize"`` or
    ``"maximize"``. An objective built outside a study (a test, a notebook) gets the defaults.
    """

    seed: int = 0
    metrics: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()


class Reporter(Protocol):
    """What a running trial may tell the framework.

    ``artifact_dir`` is a folder for this trial's own files (a training curve, weights);
    everything left there is logged as the trial run's artifacts.
    """

    artifact_dir: Path

    def report(self, metric: str, value: float, step: int) -> None:
        """Record ``metric``'s intermediate value at ``step`` (an epoch, a chunk of paths, a window).

        The trial's MLflow run logs it as the step metric ``<metric>_by_step``. In a
        single-objective study the pruner judges the trial on the first metric it reports,
        compared in the study's direction: report the value to prune on first (lower is better
        when the study minimises). A trial may report other metrics too; they are only logged.
        """

    def should_prune(self) -> bool:
        """True when the pruner wants this trial stopped; raise :class:`TrialPruned` then."""


class NullReporter:
    """A reporter that records intermediate values and never prunes (replay, baselines, tests).

    ``values`` holds ``(metric, step, value)`` in the order reported.
    """

    def __init__(self, artifact_dir: Path | None = None) -> None:
        self.artifact_dir = Path(artifact_dir) if artifact_dir is not None else Path(".")
        self.values: list[tuple[str, int, float]] = []

    def report(self, metric: str, value: float, step: int) -> None:
        self.values.append((str(metric), int(step), float(value)))

    def should_prune(self) -> bool:
        return False


@dataclass(frozen=True)
class EdgeTest:
    """A study's own test of edge over chance, attached to its out-of-sample :class:`Evaluation`.

    ``p_value``: the share of ``n`` draws under the null (``null``, plural words: "surrogate
    pairs without cointegration") that score at least as well as the tuned config, counting the
    real series as one ((1 + #{null >= real}) / (1 + n)); ``default_rule``: the baseline that is
    the same strategy with its default settings, if any, so the verdict can say "beats chance
    but not the default rule". The verdict and the console summary show it on its own line.
    """

    p_value: float
    n: int
    null: str
    default_rule: str | None = None
    level: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value <= self.level


@dataclass
class Evaluation:
    """Metrics plus the per-sample values behind the optimised ones.

    Wherever an objective returns metrics (``__call__``, ``evaluate``, each baseline split) it
    may return an ``Evaluation`` instead, so that the framework can say how sure the result is:
    bootstrap intervals, paired differences against baselines on the same samples, a verdict,
    and the probability of backtest overfitting across trials.

    ``samples[m]``: for an optimised metric ``m``, a ``(n,)`` or ``(n, k)`` array with one row
    per sample (simulated path, walk-forward window, day); ``statistics[m]`` turns such rows
    into ``m`` (:class:`Mean` when absent), so ``statistics[m](samples[m])`` equals
    ``metrics[m]``. Samples of the out-of-sample evaluation and of every baseline must be the
    *same* samples (common random numbers, the same days) so differences pair up; in-sample
    samples of every trial must be the same in-sample samples. ``serial``: rows are a time
    series (daily returns), resampled in moving blocks of ``block_length`` rows (``None``: the
    framework picks n^(1/3)). The statistic of a trial's in-sample samples is stored with them
    (a module-level frozen dataclass with plain fields, like ``Mean``, travels; see
    :func:`hedgeopt.stats.describe_statistic`) and is the one PBO scores trials with, whatever
    the out-of-sample statistic is. ``edge``: the study's own test of edge over chance
    (:class:`EdgeTest`), on an out-of-sample evaluation; ``caveat``: what the reader must know
    about the optimised score itself (one line, shown on its own line under the verdict).
    """

    metrics: dict[str, float]
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    statistics: dict[str, Statistic] = field(default_factory=dict)
    serial: bool = False
    block_length: int | None = None
    edge: EdgeTest | None = None
    caveat: str | None = None

    def statistic(self, metric: str) -> Statistic:
        return self.statistics.get(metric) or Mean()


Metrics = Mapping[str, float] | Evaluation


def metrics_of(result: Metrics | None) -> dict[str, float]:
    """The plain metrics of what an objective returned (a mapping or an :class:`Evaluation`)."""
    if result is None:
        return {}
    if isinstance(result, Evaluation):
        return dict(result.metrics)
    return dict(result)


class Objective(ABC):
    """Base class of every study objective.

    Subclasses implement :meth:`__call__` (in-sample metrics of one trial) and
    :meth:`evaluate` (out-of-sample metrics of given params, used for the export and for
    ``+replay``). :meth:`baselines` and :meth:`plots` are optional.
    """

    #: Config sections (dotted prefixes, e.g. ``("score",)``) that the objective reads from its
    #: base config only, never from a trial's params. The validator refuses a search-space key
    #: under one of them: tuning it would be exported as best while changing nothing.
    fixed_keys: ClassVar[tuple[str, ...]] = ()

    #: Tunable keys whose values may not exceed another key of the base config, ``{tuned key:
    #: bounding key}`` (dotted paths; e.g. a formation window and the warm-up before the first
    #: scored day): the validator refuses a search space past a bound before any trial runs.
    upper_bounds: ClassVar[Mapping[str, str]] = {}

    #: Baselines whose parameters are fitted by a search of their own (a grid calibration).
    #: Every other baseline is a fixed rule with no tuned parameters: when the tuned config
    #: only ties one, the verdict says to prefer it.
    tuned_baselines: ClassVar[tuple[str, ...]] = ()

    #: Folders where a bare data-file name in this objective's config resolves besides the
    #: working directory (its embedded data); the study's identity digests the files found.
    data_dirs: ClassVar[tuple[Path, ...]] = ()

    #: Keys renamed, ``{old dotted key: new one}``: an old one on the command line is refused.
    renamed_keys: ClassVar[Mapping[str, str]] = {}

    @staticmethod
    def held_out_name(metric: str) -> str:
        """The out-of-sample metric that answers the search metric ``metric`` (the same name,
        unless the objective names its splits, as deep_hedge's ``select_x`` -> ``test_x``)."""
        return metric

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        framework = sorted(FRAMEWORK_KEYS.intersection(config))
        if framework:
            raise ValueError(
                f"{type(self).__name__}: the config holds framework keys {framework}; build the "
                "objective with hedgeopt.execution.objective_builder.build_objective(composed config), which "
                "passes them as its StudyContext"
            )
        self.config: dict[str, Any] = copy.deepcopy(dict(config))
        self.context = context if context is not None else StudyContext()

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Optional preflight of the domain ``config``, run in the parent before anything is
        written: open the data files it names and check them (columns, enough rows for the
        windows). Raise ``ValueError`` with a one-line message; the default checks nothing.
        Keep it cheap: the heavy set-up stays in ``__init__``."""
        return None

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The study config with ``params`` (dotted paths) applied: one trial's full config."""
        return apply_params(self.config, params)

    @abstractmethod
    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Metrics:
        """Run one trial in-sample and return its metrics."""

    @abstractmethod
    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Metrics:
        """Metrics of ``params`` on held-out data the search never saw."""

    def baselines(self) -> Mapping[str, Mapping[str, Metrics]]:
        """Reference strategies: ``{name: {"in_sample": metrics, "out_of_sample": metrics}}``.

        Give :class:`Evaluation` objects on the same samples as :meth:`evaluate` so that the
        export can pair the tuned config against each baseline.
        """
        return {}

    def plots(
        self,
        best_params: Mapping[str, Any],
        trials: Sequence[Mapping[str, Any]],
        out_dir: Path,
    ) -> list[Path]:
        """Figures for the best config, written under ``out_dir``; returns their paths.

        ``trials`` holds one mapping per finished trial: ``number``, ``state``, ``params``
        and ``metrics``. matplotlib's Agg backend is already selected (by the framework, before
        the objective was built): draw and save, never select a backend or show.
        """
        return []

    def dataset(self) -> Mapping[str, Any] | None:
        """What the study runs on, logged as the MLflow runs' dataset input (None: nothing).

        ``{"name", "digest", "source", "rows", "date_range"}`` for a data file
        (:func:`describe_file`), or ``{"name", "digest", "source", "rows", "settings"}`` for
        simulated paths (:func:`describe_settings`).
        """
        return None

    def model(self, artifact_dir: Path) -> Any | None:
        """The best config's trained model, reloaded from what :meth:`evaluate` left in ``artifact_dir``.

        A ``torch.nn.Module`` is logged on the study's MLflow run as a PyTorch model (the UI's
        Models column). None: the study has no model to log.
        """
        return None


def describe_file(
    path: str | Path,
    rows: int | None = None,
    date_range: Sequence[Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An :meth:`Objective.dataset` entry for a data file: its name, sha256 digest and span, and
    for a CSV its columns with their types (read from the first rows)."""
    import hashlib

    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out: dict[str, Any] = {"name": name or path.name, "digest": digest[:12], "source": str(path.resolve())}
    if path.suffix.lower() == ".csv":
        out["schema"] = _csv_schema(path)
    if rows is not None:
        out["rows"] = int(rows)
    if date_range is not None:
        out["date_range"] = [str(d.date()) if hasattr(d, "date") else str(d) for d in date_range]
    return out


_COLUMN_TYPES = {"f": "double", "i": "long", "u": "long", "b": "boolean", "M": "datetime"}


def _csv_schema(path: Path) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` of a CSV's columns, typed as MLflow's column specs name them (double,
    long, boolean, datetime, string); a column of dates counts as datetime."""
    import warnings

    import pandas as pd

    head = pd.read_csv(path, nrows=200)
    schema = []
    for col in head.columns:
        kind = head[col].dtype.kind
        if kind == "O":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dates = pd.to_datetime(head[col], errors="coerce")
            kind = "M" if len(head) and dates.notna().all() else "O"
        schema.append({"name": str(col), "type": _COLUMN_TYPES.get(kind, "string")})
    return schema


def describe_settings(name: str, settings: Mapping[str, Any], rows: int | None = None) -> dict[str, Any]:
    """An :meth:`Objective.dataset` entry for simulated data: the generator's settings and a digest."""
    import hashlib
    import json

    text = json.dumps(settings, sort_keys=True, default=str)
    out: dict[str, Any] = {
        "name": name,
        "digest": hashlib.sha256(text.encode()).hexdigest()[:12],
        "source": "simulated",
        "settings": json.loads(text),
    }
    if rows is not None:
        out["rows"] = int(rows)
    return out


def apply_params(config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with each dotted-path key of ``params`` set to its value."""
    out = copy.deepcopy(dict(config))
    for dotted, value in params.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def get_path(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """The value at a dotted path of a nested mapping, or ``default``."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (a config overlay)."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out
