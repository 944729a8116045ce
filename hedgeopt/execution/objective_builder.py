"""Building a study's objective: the one place the framework constructs objectives.

The composed config splits in two. The objective gets its domain config (every key that is not
a framework key) and a :class:`~hedgeopt.protocol.StudyContext` with the seed and the optimised
metrics and directions; it never sees ``search_space``, ``storage`` or any other framework
setting, so none can leak into what a trial computes. :func:`objective_key` hashes exactly
that, so a worker process rebuilds its objective only when what it is built from changed. The
study's fingerprint still hashes the whole composed config (``hedgeopt.study.fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from hedgeopt.framework_keys import FRAMEWORK_KEYS
from hedgeopt.protocol import Objective, StudyContext
from hedgeopt.results.figures import use_headless_figures


def domain_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of the composed config that belong to the objective's domain."""
    return {k: v for k, v in cfg.items() if k not in FRAMEWORK_KEYS}


def study_context(cfg: Mapping[str, Any]) -> StudyContext:
    """The framework settings an objective may use, from the composed (validated) config."""
    return StudyContext(
        seed=int(cfg.get("seed") or 0),
        metrics=tuple(str(m) for m in cfg.get("metrics") or ()),
        directions=tuple(str(d) for d in cfg.get("directions") or ()),
    )


def objective_key(cfg: Mapping[str, Any]) -> str:
    """A digest of what :func:`build_objective` builds from: the target, domain config and context."""
    target = (cfg.get("objective") or {}).get("_target_")
    built_from = [target, domain_config(cfg), asdict(study_context(cfg))]
    return hashlib.sha256(json.dumps(built_from, sort_keys=True, default=str).encode()).hexdigest()


def build_objective(cfg: Mapping[str, Any]) -> Objective:
    """The objective ``cfg["objective"]["_target_"]`` names, built from the composed config."""
    from hydra.utils import get_class

    from hedgeopt.config.code_path import KEY, add_to_path

    use_headless_figures()
    add_to_path(cfg.get(KEY))  # the study's own code (absolute folders, set by the parent)
    cls = get_class(cfg["objective"]["_target_"])
    return cls(domain_config(cfg), study_context(cfg))
