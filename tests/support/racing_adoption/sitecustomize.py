"""Test hook (tests/e2e/test_hardening_three.py): invocations that adopt a killed run's trials
at once. With ``HEDGEOPT_TEST_ADOPTION_BARRIER`` naming a folder, the first adoption of each
invocation waits until two invocations have reached it, and every batch of trial runs is logged
a second late, so that the two adoptions certainly overlap."""

import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path

_BARRIER = os.environ.get("HEDGEOPT_TEST_ADOPTION_BARRIER")


def _patch_adoption(module):
    original = module.adopt_unlogged
    seen = []

    def adopt(*args, **kwargs):
        if not seen:
            seen.append(True)
            folder = Path(_BARRIER)
            (folder / f"arrived-{os.getpid()}").touch()
            deadline = time.time() + 60
            while len(list(folder.glob("arrived-*"))) < 2 and time.time() < deadline:
                time.sleep(0.05)
        return original(*args, **kwargs)

    module.adopt_unlogged = adopt


def _patch_invocation(module):
    original = module.Invocation._log_trials

    def log_trials(self, entries):
        if entries:
            time.sleep(1.0)
        return original(self, entries)

    module.Invocation._log_trials = log_trials


_PATCHES = {"hedgeopt.study.adoption": _patch_adoption, "hedgeopt.study.invocation": _patch_invocation}


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, patch):
        self.inner, self.patch = inner, patch

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        self.patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _Loader(spec.loader, _PATCHES[name])
        return spec


if _BARRIER:
    sys.meta_path.insert(0, _Finder())
