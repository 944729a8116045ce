"""A study's own code: the folders its ``_target_`` modules are imported from.

A user's objective lives beside the user's configs: every ``--config-dir`` folder (and every
``HEDGEOPT_CONFIG_PATH`` folder) goes on ``sys.path``, or the folders the ``code_dir`` key names
instead (a path or a list of paths, relative to the working directory). The parent puts them
on its ``sys.path`` before it imports the objective to validate it, and records them, absolute,
as ``code_dir`` in the config every worker builds its objective from
(:func:`hedgeopt.execution.objective_builder.build_objective`), so loky and Dask workers import
the same modules whatever their working directory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hedgeopt.errors import ConfigError

KEY = "code_dir"


def code_dirs(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The absolute folders a study's code is imported from (``code_dir``, or the config folders)."""
    value = cfg.get(KEY)
    if value is None:
        from hedgeopt.config.compose import extra_search_paths

        return tuple(str(p) for p in extra_search_paths())
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{KEY} must be a folder or a list of folders, got {value!r}")
    out = []
    for item in items:
        path = Path(item).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"{KEY}: {item} is not a folder")
        out.append(str(path))
    return tuple(out)


def add_to_path(dirs: Iterable[str] | str | None) -> None:
    """Put ``dirs`` first on ``sys.path`` (once each), so a ``_target_`` there imports."""
    if not dirs:
        return
    for d in reversed([dirs] if isinstance(dirs, str) else list(dirs)):
        if d not in sys.path:
            sys.path.insert(0, d)
