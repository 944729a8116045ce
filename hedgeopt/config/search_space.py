"""The search-space spec: parsing, validation and sampling.

A study declares its space under ``search_space:``, keyed by the dotted config path each
parameter sets, so the best params are a ready config overlay::

    search_space:
      hedge.delta_threshold: {type: float, low: 0.05, high: 0.5, grid: [0.1, 0.25]}
      hedge.cadence_seconds: {type: categorical, choices: [30, 60, 300, 900]}
      model.beta: {type: float, low: 1.0e-3, high: 1.0, log: true}
      spread.add_constant: {type: categorical, choices: [true, false],
                            when: {spread.method: [ols, tls]}}

``when:`` makes a parameter conditional on the value of another *categorical* parameter:
it is sampled only when that parameter's value is one of the listed ones (otherwise the
config default stays). ``grid:`` lists the values the grid sampler enumerates. A plain value
instead of an entry pins the key at it, ``null`` drops the entry (a derived study's way to narrow
an inherited space); neither is searched, and a note says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from hedgeopt.framework_keys import FRAMEWORK_KEYS
from hedgeopt.protocol import get_path

_MISSING = object()

_COMMON_FIELDS = {"type", "grid", "when"}
_FIELDS = {
    "float": _COMMON_FIELDS | {"low", "high", "log", "step"},
    "int": _COMMON_FIELDS | {"low", "high", "log", "step"},
    "categorical": _COMMON_FIELDS | {"choices"},
}


class SearchSpaceError(ValueError):
    """An invalid search-space entry; the message names the offending key."""


class Suggester(Protocol):
    """What sampling needs from a trial (``optuna.Trial`` satisfies it)."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Param:
    """One tuned parameter: its dotted config path and distribution."""

    name: str
    kind: str  # float | int | categorical
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    grid: tuple[Any, ...] | None = None
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this parameter can take."""
        if self.kind == "categorical":
            return any(_same(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high

    def suggest(self, trial: Suggester) -> Any:
        """Sample this parameter through ``trial``."""
        if self.kind == "float":
            return trial.suggest_float(
                self.name,
                float(self.low),
                float(self.high),
                step=None if self.step is None else float(self.step),
                log=self.log,
            )
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the ``when:`` conditions hold for already-sampled ``values``."""
        for key, allowed in self.when.items():
            if key not in values or not any(_same(values[key], a) for a in allowed):
                return False
        return True


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (YAML booleans vs ints)."""
    return (
        type(a) is type(b)
        and a == b
        or (
            not isinstance(a, bool)
            and not isinstance(b, bool)
            and isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and a == b
        )
    )


class SearchSpace:
    """An ordered, validated set of :class:`Param`; conditional params follow their parents."""

    def __init__(self, params: list[Param], notes: list[str] | None = None) -> None:
        self.params = _order_by_conditions(params)
        self.by_name = {p.name: p for p in self.params}
        #: one-line notes for the user (grid values dropped by a narrowed range)
        self.notes: list[str] = list(notes or [])
        #: the keys pinned (set on the command line, or a plain value): not searched, in the export
        self.pinned: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    @classmethod
    def from_config(
        cls, spec: Mapping[str, Any] | None, config: Mapping[str, Any] | None = None
    ) -> SearchSpace:
        """Parse and validate ``spec``; with ``config``, every key must be a path in it."""
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise SearchSpaceError("search_space must be a mapping of dotted config paths")
        if not spec:
            raise SearchSpaceError("search_space is empty: a study needs at least one parameter")
        notes: list[str] = []
        fixed = _fixed_entries(spec, config, notes)
        params = [_parse_param(str(k), v, notes) for k, v in spec.items() if k not in fixed]
        params = _settle_conditions(params, fixed, notes)
        if not params:
            raise SearchSpaceError(
                "search_space has no parameter left to search: every entry is pinned or dropped"
            )
        space = cls(params, notes)
        space.pinned = {k: v for k, v in fixed.items() if spec.get(k) is not None}
        for p in space.params:
            for parent, allowed in p.when.items():
                other = space.by_name.get(parent)
                if other is None:
                    raise SearchSpaceError(
                        f"search_space.{p.name}: when refers to {parent!r}, "
                        "which is not a parameter of the search space"
                    )
                if other.kind != "categorical":
                    raise SearchSpaceError(
                        f"search_space.{p.name}: when needs a categorical parameter, "
                        f"{parent!r} is {other.kind}"
                    )
                for a in allowed:
                    if not other.contains(a):
                        raise SearchSpaceError(
                            f"search_space.{p.name}: when value {a!r} is not a choice of {parent!r}"
                        )
        for name in [*fixed, *space.by_name]:
            _check_config_path(name, config)
        return space

    def suggest(self, trial: Suggester) -> dict[str, Any]:
        """Sample every active parameter; returns ``{dotted path: value}``."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values):
                values[p.name] = p.suggest(trial)
        return values

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's search space; every parameter needs a ``grid:`` list."""
        missing = [p.name for p in self.params if p.grid is None]
        if missing:
            raise SearchSpaceError(
                f"search_space.{missing[0]}: sampler=grid needs a grid: list for every parameter"
            )
        return {p.name: list(p.grid or ()) for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def check_values(self, values: Mapping[str, Any]) -> None:
        """Validate a complete assignment (an export being replayed)."""
        for name, value in values.items():
            p = self.by_name.get(name)
            if p is None:
                raise SearchSpaceError(f"{name}: not a parameter of this study's search space")
            if not p.contains(value):
                raise SearchSpaceError(f"{name}: value {value!r} is outside the search space")


def _check_config_path(name: str, config: Mapping[str, Any] | None) -> None:
    if config is None:
        return
    if name.split(".")[0] in FRAMEWORK_KEYS:
        raise SearchSpaceError(f"search_space.{name}: framework keys cannot be tuned")
    if get_path(config, name, _MISSING) is _MISSING:
        raise SearchSpaceError(
            f"search_space.{name}: not a config path (set a default for it in the study config)"
        )


def _fixed_entries(spec: Mapping[str, Any], config: Mapping[str, Any] | None, notes: list[str]) -> dict:
    """``{name: value}`` of the entries not searched: a plain value pins the key (composing set
    the config to it: :func:`hedgeopt.config.overlay.pin_searched`), ``null`` drops the entry."""
    fixed: dict[str, Any] = {}
    for name, entry in ((str(k), v) for k, v in spec.items() if not isinstance(v, Mapping)):
        fixed[name] = entry if entry is not None else get_path(config or {}, name, _MISSING)
        if entry is None:
            notes.append(f"search_space.{name}: dropped by null; trials keep its config value")
        else:
            notes.append(f"{name} is pinned at {entry!r}: not searched, every trial uses it")
    return fixed


def _settle_conditions(params: list[Param], fixed: Mapping[str, Any], notes: list[str]) -> list[Param]:
    """``when:`` on a pinned or dropped parameter, resolved once: a condition that holds for the
    fixed value goes, a parameter whose condition cannot hold is never searched (a note says so)."""
    out = []
    for p in params:
        blocked = [k for k in p.when if k in fixed and not any(_same(fixed[k], a) for a in p.when[k])]
        if blocked:
            notes.append(f"search_space.{p.name}: never searched ({blocked[0]} is fixed outside its when:)")
        else:
            out.append(replace(p, when={k: v for k, v in p.when.items() if k not in fixed}))
    return out


def _parse_param(name: str, entry: Any, notes: list[str] | None = None) -> Param:
    where = f"search_space.{name}"
    kind = _entry_kind(where, name, entry)
    when = _parse_when(where, entry.get("when"))
    grid = entry.get("grid")
    if grid is not None:
        if not isinstance(grid, (list, tuple)) or not grid:
            raise SearchSpaceError(f"{where}: grid must be a non-empty list")
        grid = tuple(grid)
    if kind == "categorical":
        param = Param(name, kind, choices=_parse_choices(where, entry.get("choices")), grid=grid, when=when)
    else:
        param = replace(_parse_range(where, name, kind, entry), grid=grid, when=when)
    return param if grid is None else _fit_grid(where, param, grid, notes)


def _entry_kind(where: str, name: str, entry: Any) -> str:
    """The entry's type, once its name and fields are checked."""
    if not name or any(not part for part in name.split(".")):
        raise SearchSpaceError(f"{where}: not a dotted config path")
    if not isinstance(entry, Mapping):
        raise SearchSpaceError(f"{where}: expected a mapping with a type field")
    kind = entry.get("type")
    if kind not in _FIELDS:
        raise SearchSpaceError(f"{where}: type must be float, int or categorical, got {kind!r}")
    unknown = sorted(set(entry) - _FIELDS[kind])
    if unknown:
        raise SearchSpaceError(f"{where}: unknown field {unknown[0]!r} for type {kind}")
    return kind


def _parse_choices(where: str, choices: Any) -> tuple[Any, ...]:
    if not isinstance(choices, (list, tuple)) or not choices:
        raise SearchSpaceError(f"{where}: choices must be a non-empty list")
    for c in choices:
        if c is not None and not isinstance(c, (bool, int, float, str)):
            raise SearchSpaceError(f"{where}: choice {c!r} is not a scalar")
        if isinstance(c, float) and not math.isfinite(c):
            raise SearchSpaceError(f"{where}: choice {c!r} is not a finite number")
    return tuple(choices)


def _parse_range(where: str, name: str, kind: str, entry: Mapping[str, Any]) -> Param:
    """A float or int parameter from ``low``, ``high``, ``log`` and ``step``."""
    low, high = entry.get("low"), entry.get("high")
    for label, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v):
            raise SearchSpaceError(f"{where}: {label} must be a finite number, got {v!r}")
        if kind == "int" and not float(v).is_integer():
            raise SearchSpaceError(f"{where}: {label} must be an integer, got {v!r}")
    if low >= high:
        raise SearchSpaceError(f"{where}: low ({low}) must be below high ({high})")
    # Every sampler draws low + u * (high - low) in floats: a width past the float range fails
    # every trial in the sampler ("Range exceeds valid bounds"), so refuse it here.
    if not math.isfinite(float(high) - float(low)):
        raise SearchSpaceError(
            f"{where}: the range [{low}, {high}] is wider than a float can hold; narrow it"
        )
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{where}: log must be true or false")
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: log scale needs low > 0, got {low}")
    step = entry.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not _finite(step) or step <= 0:
            raise SearchSpaceError(f"{where}: step must be a positive number")
        if not math.isfinite((float(high) - float(low)) / step):
            raise SearchSpaceError(f"{where}: step {step} is too small for the range [{low}, {high}]")
        if log:
            raise SearchSpaceError(f"{where}: step and log cannot be combined")
        if kind == "int" and not float(step).is_integer():
            raise SearchSpaceError(f"{where}: step must be an integer for type int")
    if kind == "int":
        low, high = int(low), int(high)
        step = None if step is None else int(step)
    return Param(name, kind, low=low, high=high, log=log, step=step)


def _finite(v: float) -> bool:
    """Finite and within the float range (an int of 400 digits is not)."""
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _fit_grid(where: str, param: Param, grid: tuple[Any, ...], notes: list[str] | None) -> Param:
    """A study that narrows an inherited range keeps the inherited grid: values outside the
    narrowed range are dropped (with a note), unless none is left."""
    kept = tuple(g for g in grid if param.contains(g))
    if not kept:
        raise SearchSpaceError(
            f"{where}: no grid value {list(grid)} lies in the parameter's {_range_text(param)}"
        )
    if len(kept) < len(grid):
        dropped = [g for g in grid if not param.contains(g)]
        if notes is not None:
            notes.append(f"{where}: grid value(s) {dropped} outside {_range_text(param)} dropped")
        return replace(param, grid=kept)
    return param


def _range_text(param: Param) -> str:
    if param.kind == "categorical":
        return f"choices {list(param.choices)}"
    return f"range [{param.low}, {param.high}]"


def _parse_when(where: str, when: Any) -> dict[str, tuple[Any, ...]]:
    if when is None:
        return {}
    if not isinstance(when, Mapping) or not when:
        raise SearchSpaceError(f"{where}: when must map a categorical parameter to allowed values")
    out: dict[str, tuple[Any, ...]] = {}
    for key, allowed in when.items():
        if not isinstance(allowed, (list, tuple)):
            allowed = [allowed]
        if not allowed:
            raise SearchSpaceError(f"{where}: when.{key} lists no values")
        out[str(key)] = tuple(allowed)
    return out


def _order_by_conditions(params: list[Param]) -> list[Param]:
    """Topological order: a conditional parameter comes after the ones it depends on."""
    by_name = {p.name: p for p in params}
    ordered: list[Param] = []
    state: dict[str, int] = {}

    def visit(p: Param) -> None:
        mark = state.get(p.name, 0)
        if mark == 2:
            return
        if mark == 1:
            raise SearchSpaceError(f"search_space.{p.name}: when conditions form a cycle")
        state[p.name] = 1
        for parent in p.when:
            if parent in by_name:
                visit(by_name[parent])
        state[p.name] = 2
        ordered.append(p)

    for p in params:
        visit(p)
    return ordered
