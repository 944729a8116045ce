"""The layers the design fixes, read from the code's own imports with ``ast``.

simulators/ is pure numerics; objectives/ see the framework only through hedgeopt.protocol;
hedgeopt/ knows nothing of hedging; no package imports itself in a circle; no folder of the
three packages holds more than ten modules and no module is over 400 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hedgeopt", "simulators", "objectives")
FRAMEWORK_LIBS = {"optuna", "mlflow", "hydra", "omegaconf", "joblib"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports (absolute names), at any level of the file."""
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_pkg else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) == "simulators"))
def test_simulators_are_pure_numerics(module: str) -> None:
    bad = {
        i for i in _imports(MODULES[module], module) if _top(i) in FRAMEWORK_LIBS | {"hedgeopt", "objectives"}
    }
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) == "objectives"))
def test_objectives_see_the_framework_only_through_the_protocol(module: str) -> None:
    imports = _imports(MODULES[module], module)
    bad = {i for i in imports if _top(i) in FRAMEWORK_LIBS}
    bad |= {i for i in imports if _top(i) == "hedgeopt" and i != "hedgeopt.protocol"}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) == "hedgeopt"))
def test_the_framework_knows_nothing_of_hedging(module: str) -> None:
    bad = {i for i in _imports(MODULES[module], module) if _top(i) in {"simulators", "objectives"}}
    assert not bad, f"{module} imports {sorted(bad)}"


def _circles() -> list[list[str]]:
    """Strongly connected components (more than one module) of the import graph (Tarjan)."""
    graph = {
        m: {i for i in _imports(p, m) if i in MODULES and i != m and not m.startswith(f"{i}.")}
        for m, p in MODULES.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert _circles() == []


def test_the_circle_finder_finds_a_planted_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from hedgeopt.zz_b import x\n")
    b.write_text("def f():\n    from hedgeopt.zz_a import y\n")
    monkeypatch.setitem(MODULES, "hedgeopt.zz_a", a)
    monkeypatch.setitem(MODULES, "hedgeopt.zz_b", b)
    assert ["hedgeopt.zz_a", "hedgeopt.zz_b"] in _circles()


def test_folders_and_modules_stay_small() -> None:
    folders: dict[Path, int] = {}
    for path in MODULES.values():
        if path.name != "__init__.py":
            folders[path.parent] = folders.get(path.parent, 0) + 1
    crowded = {str(f.relative_to(ROOT)): n for f, n in folders.items() if n > 10}
    assert not crowded, f"folders over 10 modules: {crowded}"
    long = {
        str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"modules over 400 lines: {long}"


def test_the_protocol_imports_no_framework_library() -> None:
    code = (
        "import sys, hedgeopt.protocol; "
        "print(sorted(m for m in ('optuna', 'mlflow', 'hydra', 'omegaconf', 'joblib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_every_package_is_in_the_wheel() -> None:
    # the wheel lists its packages by hand (conf/ ships as hedgeopt_conf); a forgotten one
    # (hedgeopt.stats once) installs a hedgeopt that cannot import
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("hedgeopt", "objectives", "simulators")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
