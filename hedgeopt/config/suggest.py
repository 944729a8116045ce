"""Did-you-mean messages for command-line overrides that Hydra refuses.

Hydra's own messages for a mistyped study, group option or key either cut the list of valid
options or steer the user to ``+key=value`` (which adds a key nothing reads). When composing
fails, :func:`diagnose` looks at the overrides one by one and names the first unknown study,
group, option or key with its closest valid spelling, or the full list when none is close.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

ComposeFn = Callable[[list[str]], "DictConfig | None"]


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate nearest to ``word`` (difflib ratio at least ``cutoff``), or None."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def unknown(kind: str, word: str, candidates: Sequence[str], hint: str = "") -> str:
    """``unknown study 'x'; did you mean y?`` or, with no close match, the full list."""
    near = closest(word, candidates)
    if near is not None:
        return f"unknown {kind} {word!r}; did you mean {near}?"
    listed = ", ".join(sorted(candidates)) or "none"
    return f"unknown {kind} {word!r}; valid: {listed}{hint}"


def dotted_keys(cfg: Any, prefix: str = "") -> list[str]:
    """Every key path of a config, inner nodes included (``mlflow``, ``mlflow.tracking_uri``)."""
    out: list[str] = []
    if isinstance(cfg, Mapping):
        for k, v in cfg.items():
            path = f"{prefix}{k}"
            out.append(path)
            out.extend(dotted_keys(v, path + "."))
    return out


def diagnose(overrides: list[str], groups: Mapping[str, Sequence[str]], compose: ComposeFn) -> str | None:
    """A one-line did-you-mean message for the first unknown name in ``overrides``, or None.

    ``groups`` maps each config group to its options; ``compose`` composes a list of
    overrides and returns None when that fails too (used to learn which keys exist).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001
        return None  # a syntax error: Hydra's own message says where
    group_args: list[str] = []
    for raw, o in zip(overrides, parsed, strict=False):
        key, value = o.key_or_group, o.value() if not o.is_delete() else None
        if o.package is not None or key.startswith("hydra") or not isinstance(value, str):
            continue
        if key in groups:
            if value not in groups[key]:
                return unknown(key, value, groups[key])
            group_args.append(raw)
    config = compose(group_args) or compose([])
    if config is None:
        return None
    container = OmegaConf.to_container(config, resolve=False)
    keys = dotted_keys(container)
    renamed = renamed_keys(config)
    for o in parsed:
        key = o.key_or_group
        if o.package is not None or key.startswith("hydra") or key in groups:
            continue
        exists = OmegaConf.select(config, key, default=_MISSING) is not _MISSING
        if not exists and key in renamed:
            return f"{key} was renamed {renamed[key]}: write {renamed[key]}={o.input_line.split('=', 1)[-1]}"
        if o.is_add() and exists:
            return f"key {key!r} already exists; set it without '+': {key}=..."
        if exists or o.is_add() or o.is_force_add():
            continue
        parent, _, last = key.rpartition(".")
        node = OmegaConf.select(config, parent) if parent else config
        if parent and isinstance(node, DictConfig):  # a known section: its own keys first
            children = [str(k) for k in node]
            near = closest(last, children)
            containing = [c for c in children if last.lower() in c.lower()]
            near = near or (containing[0] if len(containing) == 1 else None)
            near = f"{parent}.{near}" if near is not None else None
        else:
            ancestors = {key.rsplit(".", i)[0] for i in range(1, key.count(".") + 1)}
            near = closest(key, [k for k in [*keys, *groups] if k not in ancestors])
        if near in groups:
            return f"unknown config group {key!r}; did you mean {near}?"
        if near is not None:
            return f"unknown key {key!r}; did you mean {near}?"
        siblings = [str(k) for k in node] if isinstance(node, DictConfig) else []
        where = f"under {parent!r}" if parent and siblings else "at the top level"
        siblings = siblings or [str(k) for k in config]
        return (
            f"unknown key {key!r}; valid keys {where}: {', '.join(sorted(siblings))} "
            f"(to add a new key on purpose: +{key}=...)"
        )
    return None


_MISSING = object()


def renamed_keys(config: Any) -> Mapping[str, str]:
    """The study objective's ``renamed_keys`` (none where it cannot be imported)."""
    from hydra.utils import get_class  # composing already loaded hydra

    try:
        return dict(get_class(str(OmegaConf.select(config, "objective._target_"))).renamed_keys)
    except Exception:  # noqa: BLE001 - no objective, or one that cannot be imported: no renames
        return {}


#: What hedgeopt says to Hydra's sweep habits (-m/--multirun, key=a,b).
MULTIRUN = (
    "-m/--multirun is Hydra's sweeper; hedgeopt sweeps with Optuna: put the values in search_space "
    "(sampler=grid enumerates its grid: lists), or run one study per setting, e.g. "
    "for s in 1 2 3; do hedgeopt +study=NAME seed=$s study_name=NAME_s$s; done"
)
