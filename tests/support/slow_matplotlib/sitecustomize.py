"""Test hook (tests/hedgeopt/test_hardening_two.py): matplotlib's import takes
``HEDGEOPT_TEST_SLOW_MATPLOTLIB`` seconds, while the half-initialised module already sits in
``sys.modules``; a thread that uses it meanwhile meets "partially initialized module"."""

import importlib.abc
import importlib.machinery
import os
import sys
import time

_DELAY = float(os.environ.get("HEDGEOPT_TEST_SLOW_MATPLOTLIB", "0") or 0)


class _SlowLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        time.sleep(_DELAY)
        self.inner.exec_module(module)


class _SlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "matplotlib":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _SlowLoader(spec.loader)
        return spec


if _DELAY > 0:
    sys.meta_path.insert(0, _SlowFinder())
