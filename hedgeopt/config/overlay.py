"""``+overlay=PATH``: apply a config file (an export's ``best.yaml``) to any run.

The file becomes a config of Hydra's ConfigStore in the group ``hedgeopt_overlay`` with
package ``_global_``, and the argument becomes ``+hedgeopt_overlay=<name>``: Hydra then
merges it where it would merge the same file placed in a config group (after the study, before
the command line's ``key=value`` overrides, which win). Values only: the file may not name
code (``_target_``) nor hold interpolations or resolver calls (``${oc.env:...}``), may only
set keys that the composed config has without it, and may not set the framework keys that route
data (:data:`ROUTING_KEYS`: where the trials, the MLflow runs and the exports go) unless the
command line sets them too; the reserved blocks of an export in the earlier one-file layout are
skipped. A run starts from the overlay for real: the runner enqueues its params as the new
study's first trial (:mod:`hedgeopt.study.warm_start`, given :func:`overlaid_params`).

A searched key set on the command line (``hedge.hedge_ratio=0.9``) is pinned
(:func:`pin_searched`): its search-space entry becomes the value, which the search space reads
as "not searched".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from hedgeopt.errors import ConfigError
from hedgeopt.protocol import flatten

GROUP = "hedgeopt_overlay"
PREFIX = "+overlay="
#: Framework keys that say where data goes: an overlay file (perhaps someone else's export)
#: may not redirect the trials, the MLflow runs or the exports; the command line may.
ROUTING_KEYS = ("storage", "mlflow", "workdir", "export_dir")


class OverlayError(ConfigError):
    """An overlay file that cannot be applied (reported as a config error)."""


def load_overlay(path: str | Path) -> dict[str, Any]:
    """The config keys of an overlay file, checked to be plain values."""
    from hedgeopt.results.export import RESERVED_BLOCKS
    from hedgeopt.results.replay_file import ReplayError, interpolation_in, load_bounded

    try:  # the same size, encoding, depth and alias bounds as a replayed file
        doc = load_bounded(Path(path))
    except ReplayError as exc:
        raise OverlayError("overlay:" + str(exc).split(":", 1)[1]) from None
    if not isinstance(doc, Mapping):
        raise OverlayError(f"overlay: {path} does not hold a config mapping")
    doc = {str(k): v for k, v in doc.items() if k not in RESERVED_BLOCKS}
    if not doc:
        raise OverlayError(f"overlay: {path} sets no config key")
    for key in flatten(doc):
        if "_target_" in key.split("."):
            raise OverlayError(f"overlay: {path} sets {key}; an overlay sets values, never code")
    bad = interpolation_in(flatten(doc))
    if bad is not None:
        raise OverlayError(
            f"overlay: {path} sets {bad} to an interpolation (${{...}}); an overlay holds values only"
        )
    return doc


def _command_line_keys(overrides: Sequence[str]) -> set[str]:
    """The dotted keys that ``key=value`` overrides set (``+``/``++``/``~`` prefixes dropped)."""
    keys = set()
    for arg in overrides:
        if "=" in arg and not arg.startswith(PREFIX):
            keys.add(arg.split("=", 1)[0].lstrip("+~"))
    return keys


def _check_routing(path: str, doc: Mapping[str, Any], given: set[str]) -> None:
    for key in flatten(doc):
        top = key.split(".", 1)[0]
        if top in ROUTING_KEYS and key not in given and top not in given:
            raise OverlayError(
                f"overlay: {path} sets {key}, which says where data goes; an overlay may not "
                f"(give {key}=... on the command line)"
            )


def expand(overrides: Sequence[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Replace each ``+overlay=PATH`` by a ConfigStore entry; returns the new overrides and
    ``{path: overlay}`` for :func:`check_keys`."""
    out: list[str] = []
    loaded: dict[str, dict[str, Any]] = {}
    given = _command_line_keys(overrides)
    for arg in overrides:
        if not arg.startswith(PREFIX):
            out.append(arg)
            continue
        path = arg[len(PREFIX) :].strip()
        if not path:
            raise OverlayError(
                "overlay: give the path of a config file, e.g. +overlay=exports/<study>/best.yaml"
            )
        doc = load_overlay(path)
        _check_routing(path, doc, given)
        from hydra.core.config_store import ConfigStore

        name = f"overlay{len(loaded)}"
        ConfigStore.instance().store(group=GROUP, name=name, node=doc, package="_global_")
        loaded[path] = doc
        out.append(f"+{GROUP}={name}")
    return out, loaded


def check_keys(without: Mapping[str, Any], overlays: Mapping[str, Mapping[str, Any]]) -> None:
    """Every key an overlay sets must exist in the config composed without it (no typos)."""
    from hedgeopt.protocol import get_path

    missing = object()
    for path, doc in overlays.items():
        for key in flatten(doc):
            if get_path(without, key, missing) is missing:
                raise OverlayError(f"overlay: {path} sets {key}, which is not a key of this study's config")


def overlaid_params(overrides: Sequence[str]) -> dict[str, Any]:
    """``{dotted key: value}`` that the ``+overlay=PATH`` files set (a later file wins): the
    params a warm start replays."""
    out: dict[str, Any] = {}
    for arg in overrides:
        if arg.startswith(PREFIX) and arg[len(PREFIX) :].strip():
            out.update(flatten(load_overlay(arg[len(PREFIX) :].strip())))
    return out


def pin_searched(cfg: MutableMapping[str, Any], overrides: Sequence[str]) -> None:
    """Pin what is not to be searched, in the composed ``cfg`` (a dict or a DictConfig).

    A searched key that the command line sets gets its search-space entry replaced by the
    value (the command line wins over the search, as over any config value); a plain value
    in the search space (a derived study pinning an inherited entry) is set as the config's
    value, so every trial sees it. :meth:`SearchSpace.from_config` leaves both out, with a note.
    """
    space = cfg.get("search_space")
    if not isinstance(space, MutableMapping):
        return
    given = _command_line_keys(overrides)
    missing = object()
    from hedgeopt.protocol import get_path

    for key, entry in list(space.items()):
        value = get_path(cfg, str(key), missing)
        if entry is None or value is missing:
            continue  # dropped, or not a config path (the search space says so)
        if key in given:
            space[key] = value
        elif not isinstance(entry, Mapping):
            _set_path(cfg, str(key), entry)


def _set_path(cfg: MutableMapping[str, Any], dotted: str, value: Any) -> None:
    """Set an existing dotted key of a nested mapping in place."""
    *parents, last = dotted.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    node[last] = value


def compose_overlaid(
    overrides: Sequence[str],
    compose: Callable[[Sequence[str]], Any],
    keys_of: Callable[[Any], Mapping[str, Any]] | None = None,
) -> Any:
    """``compose(overrides)`` with every ``+overlay=PATH`` applied and its keys checked, and the
    keys not to be searched pinned (:func:`pin_searched`).

    A run composes plain dicts; ``--cfg`` composes a DictConfig (``keys_of`` turns it into the
    mapping whose keys are checked), so that it shows exactly what a run would use.
    """
    expanded, overlays = expand(overrides)
    cfg = compose(expanded)
    if overlays:
        without = compose([a for a in overrides if not a.startswith(PREFIX)])
        check_keys(keys_of(without) if keys_of else without, overlays)
    pin_searched(cfg, overrides)
    return cfg
