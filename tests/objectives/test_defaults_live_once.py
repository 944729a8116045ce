"""A default lives once: in the study's YAML (conf/study, the study-owned groups), never again as
the second argument of ``config.get("key", default)`` in an objective, where it would silently
diverge from the YAML (as delta_hedge's baseline cadences and kalman_hedge's notional had)."""

from __future__ import annotations

import ast
from pathlib import Path

OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives"

#: ``(path under objectives/, key)`` whose ``.get(key, default)`` is allowed, with the reason: a
#: key of user data (a record, a trial mapping), not of the study config. Empty today.
ALLOWED: dict[tuple[str, str], str] = {}


def _defaulted_gets(source: str) -> list[tuple[int, str, str]]:
    """``(line, key, call)`` of every ``<x>.get("<key>", <default>)`` in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "get" or not node.args:
            continue
        key = node.args[0]
        has_default = len(node.args) >= 2 or any(k.arg == "default" for k in node.keywords)
        if has_default and isinstance(key, ast.Constant) and isinstance(key.value, str):
            out.append((node.lineno, key.value, ast.unparse(node)))
    return out


def test_the_scan_finds_a_defaulted_get() -> None:
    source = 'x = cfg["trade"].get("cost_bps", 5.0)\ny = cfg.get("a")\nz = d.get("b", default=1)'
    found = _defaulted_gets(source)
    assert [(line, key) for line, key, _ in found] == [(1, "cost_bps"), (3, "b")]


def test_no_objective_repeats_a_config_default_in_code() -> None:
    offenders = []
    for path in sorted(OBJECTIVES.rglob("*.py")):
        rel = path.relative_to(OBJECTIVES).as_posix()
        for line, key, call in _defaulted_gets(path.read_text()):
            if (rel, key) not in ALLOWED:
                offenders.append(f"objectives/{rel}:{line}: {call}")
    assert not offenders, (
        "defaults live in the study YAML; read the key with cfg[key] (add it to every study's "
        "config with the value the code had):\n" + "\n".join(offenders)
    )
