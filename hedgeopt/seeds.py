"""Every seed hedgeopt derives from the study's ``seed``, by one scheme.

A derived seed is :func:`derive` ``(parent, stream, index)``: the first 32-bit word that numpy's
``SeedSequence([parent mod 2**32, stream, index])`` generates. SeedSequence hashes its words,
so the seeds of different ``(stream, index)`` pairs are unrelated even where the words differ
by one. Which seed comes from which words:

=====================================================  ==============  =======  ===============
seed of                                                parent          stream   index
=====================================================  ==============  =======  ===============
worker ``w``'s sampler, in the ``k``-th invocation     study seed      n [1]_   k * 2**16 + w
on the study
that sampler again, after the pool restarted ``r``     its last seed   r        w
times
the sampler of slot ``s`` of a deterministic batch     study seed      n [1]_   s
the assessment (bootstrap intervals, CSCV subsets)     study seed      0        0xA55E55
=====================================================  ==============  =======  ===============

.. [1] ``n``: the trials the study held when the invocation started (counted ones) or when the
   batch was asked (all of them); resumed invocations and later batches get fresh seeds.

Two seeds are not derived this way. A GridSampler gets the study seed itself: it shuffles its
grid with its seed, and every worker must walk the one order. Within one assessment, baseline
``i``'s bootstrap interval uses the assessment seed ``+ 1 + i`` (its own resamples), while
every paired difference reuses the assessment seed (each resamples the same rows).
"""

from __future__ import annotations

import numpy as np

#: Index stride between the workers of consecutive invocations on one study.
INVOCATION_STRIDE = 1 << 16
#: The assessment's index: far from any worker's.
ASSESSMENT_INDEX = 0xA55E55


def derive(parent: int, stream: int, index: int) -> int:
    """The seed of ``(stream, index)`` under ``parent``: see the table above."""
    ss = np.random.SeedSequence([int(parent) & 0xFFFFFFFF, int(stream), int(index)])
    return int(ss.generate_state(1)[0])


def worker_sampler_seed(seed: int, n_counted: int, ordinal: int, worker: int) -> int:
    """Worker ``worker``'s sampler seed in the invocation numbered ``ordinal`` on the study."""
    return derive(seed, n_counted, INVOCATION_STRIDE * ordinal + worker)


def restarted_sampler_seed(previous: int, restarts: int, worker: int) -> int:
    """A worker's fresh sampler seed once its pool has restarted ``restarts`` times."""
    return derive(previous, restarts, worker)


def batch_sampler_seed(seed: int, batch: int, slot: int) -> int:
    """Deterministic mode: the sampler seed of ``slot`` in the batch asked at ``batch`` trials."""
    return derive(seed, batch, slot)


def sampler_seed(seed: int, derived: int, *, grid: bool) -> int:
    """The seed a sampler gets: ``derived``, or the study seed itself for a GridSampler."""
    return seed if grid else derived


def assessment_seed(seed: int) -> int:
    """The bootstrap and CSCV seed of a study: fixed by ``seed``, apart from the samplers' seeds."""
    return derive(seed, 0, ASSESSMENT_INDEX)


def baseline_seed(assessment: int, i: int) -> int:
    """The bootstrap seed of the ``i``-th baseline's interval within one assessment."""
    return assessment + 1 + i
