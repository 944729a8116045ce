"""Reading an export back (``+replay``, ``+overlay``): bounded, values only, checked once.

Replay reads values only, with a bounded ``yaml.safe_load`` (size, encoding, depth and
aliases are checked before anything is expanded); it never imports or instantiates anything
named in the file. Its params are checked against the study's search space, except the keys
the export says were pinned (``metadata.pinned``, or overlay.yaml's
:data:`~hedgeopt.results.export.PINNED_COMMENT` line), which may lie outside the searched range.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hedgeopt.config.search_space import SearchSpace, SearchSpaceError
from hedgeopt.protocol import flatten
from hedgeopt.results.export import PINNED_COMMENT, RESERVED_BLOCKS


class ReplayError(ValueError):
    """An export that cannot be replayed against this study."""


#: Bounds checked before a replay file is parsed or expanded (an export is a few kilobytes).
MAX_REPLAY_BYTES = 1 << 20
MAX_REPLAY_DEPTH = 32
MAX_REPLAY_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (an export never needs them; alias bombs
    expand a small file into gigabytes) and bounds nesting depth and node count."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in a replay file", event.start_mark
            )
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_REPLAY_DEPTH or self._nodes > MAX_REPLAY_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"more than {MAX_REPLAY_DEPTH} levels or {MAX_REPLAY_NODES} values",
                self.peek_event().start_mark,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_bounded(path: Path) -> Any:
    """The YAML document at ``path``, checked for size, encoding, depth and aliases first."""
    return _parse(path, _bounded_text(path))


def _bounded_text(path: Path) -> str:
    """The text of ``path``, refused unless it is small UTF-8 text."""
    try:
        size = path.stat().st_size
        if size > MAX_REPLAY_BYTES:
            raise ReplayError(
                f"replay: {path} is {size} bytes; an export is at most {MAX_REPLAY_BYTES} bytes"
            )
        with open(path, "rb") as fh:
            raw = fh.read(MAX_REPLAY_BYTES + 1)
    except IsADirectoryError:
        raise ReplayError(f"replay: {path} is a folder; give the path of an exported best.yaml") from None
    except OSError as exc:
        raise ReplayError(f"replay: cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_REPLAY_BYTES:  # grew while being read, or a device file
        raise ReplayError(f"replay: {path} is larger than {MAX_REPLAY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplayError(
            f"replay: {path} is not UTF-8 text (byte {exc.start}); give an exported best.yaml"
        ) from None
    if "\x00" in text:
        raise ReplayError(f"replay: {path} is a binary file, not an exported best.yaml")
    return text


def _parse(path: Path, text: str) -> Any:
    """``text`` (read from ``path``) parsed by the bounded loader: values only."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass: values only
    except yaml.YAMLError as exc:
        raise ReplayError(f"replay: {path} is not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    except RecursionError:
        raise ReplayError(f"replay: {path} nests too deeply") from None


def interpolation_in(flat: Mapping[str, Any]) -> str | None:
    """The first dotted key whose value (or an item of it) holds an OmegaConf interpolation or
    resolver call (``${...}``: ``${oc.env:SECRET}`` would be resolved into MLflow params, the
    config artifact and the journal), else None. A file read from outside is values only."""

    def holds(v: Any) -> bool:
        if isinstance(v, str):
            return "${" in v
        if isinstance(v, Mapping):
            return any(holds(x) for x in v.values())
        if isinstance(v, list | tuple):
            return any(holds(x) for x in v)
        return False

    return next((k for k, v in flat.items() if holds(v)), None)


def read_replay(path: str | Path, space: SearchSpace) -> dict[str, Any]:
    """The params of an export, validated against the study's search space.

    Reads ``best.yaml``, ``overlay.yaml`` or ``best.json`` (the reserved blocks are skipped).
    Only keys of the search space are accepted, a value inside its range unless the file says
    the key was pinned (``metadata.pinned``, or overlay.yaml's :data:`PINNED_COMMENT` line); a
    key this run pins keeps the command line's value. A ``_target_`` anywhere is refused, since
    a replayed file must never choose what code runs. Size, encoding, depth and aliases are
    checked before anything is expanded; the file is read once.
    """
    text = _bounded_text(Path(path))
    doc = _parse(Path(path), text)
    if not isinstance(doc, Mapping):
        raise ReplayError(f"replay: {path} does not hold a config mapping")
    overlay = {k: v for k, v in doc.items() if k not in RESERVED_BLOCKS}
    flat = flatten(overlay)
    for key in flat:
        if "_target_" in key.split(".") or key.endswith("_target_"):
            raise ReplayError(f"replay: {path} sets {key}; replay never instantiates code from a file")
    if not flat:
        raise ReplayError(f"replay: {path} holds no params")
    bad = interpolation_in(flat)
    if bad is not None:
        raise ReplayError(
            f"replay: {path} sets {bad} to an interpolation (${{...}}); a replay file holds values only"
        )
    metadata = doc.get("metadata")
    if isinstance(metadata, Mapping):
        was_pinned = set(metadata.get("pinned") or ())
    else:
        was_pinned = _pinned_comment(text)
    params = {k: v for k, v in flat.items() if k not in space.pinned}
    try:
        space.check_values({k: v for k, v in params.items() if k not in was_pinned or k not in space})
    except SearchSpaceError as exc:
        raise ReplayError(f"replay: {exc}") from exc
    return params


def _pinned_comment(text: str) -> set[str]:
    """The keys an overlay.yaml names on its :data:`PINNED_COMMENT` line (in its header)."""
    for line in text.split("\n", 8)[:8]:  # the header only
        if line.startswith(PINNED_COMMENT):
            return {k.strip() for k in line[len(PINNED_COMMENT) :].split(",") if k.strip()}
        if not line.startswith("#"):
            break
    return set()
