"""Test hook (tests/e2e/test_hardening_export_order.py): an invocation that reads the trials,
then waits before it exports. With ``HEDGEOPT_TEST_EXPORT_GATE`` naming a folder,
``hedgeopt.study.finish.export_best`` touches ``snapshotted-<pid>`` there and waits (60 s at
most) until ``go`` exists: what a slow scoring does to the invocation whose search ended first
while another still ran its last trials."""

import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path

_GATE = os.environ.get("HEDGEOPT_TEST_EXPORT_GATE")


def _patch_finish(module):
    original = module.export_best

    def export_best(*args, **kwargs):
        folder = Path(_GATE)
        (folder / f"snapshotted-{os.getpid()}").touch()
        deadline = time.time() + 60
        while not (folder / "go").exists() and time.time() < deadline:
            time.sleep(0.05)
        return original(*args, **kwargs)

    module.export_best = export_best


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _patch_finish(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "hedgeopt.study.finish":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _Loader(spec.loader)
        return spec


if _GATE:
    sys.meta_path.insert(0, _Finder())
