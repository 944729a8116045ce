"""hedgeopt.seeds: every derived seed keeps the value earlier versions gave it (same seed, same study)."""

from __future__ import annotations

import numpy as np

from hedgeopt import seeds


def test_derived_seeds_keep_their_values():
    assert seeds.worker_sampler_seed(7, 0, 0, 0) == 2083679832
    assert seeds.worker_sampler_seed(7, 12, 2, 3) == 3080821854  # third invocation, 12 trials done
    assert seeds.restarted_sampler_seed(seeds.worker_sampler_seed(7, 0, 0, 1), 1, 1) == 3051202361
    assert seeds.batch_sampler_seed(7, 4, 1) == 3210196619
    assert seeds.assessment_seed(7) == 3661477884
    assert seeds.assessment_seed(2**32 + 7) == 3661477884  # the seed is taken mod 2**32
    assert seeds.assessment_seed(0) == 359413830


def test_one_scheme_numpy_seed_sequence_of_parent_stream_index():
    expected = int(np.random.SeedSequence([7, 12, 2 * 2**16 + 3]).generate_state(1)[0])
    assert seeds.derive(7, 12, 2 * 2**16 + 3) == expected == seeds.worker_sampler_seed(7, 12, 2, 3)


def test_a_grid_sampler_gets_the_study_seed_and_baselines_follow_the_assessment_seed():
    assert seeds.sampler_seed(7, 123, grid=True) == 7
    assert seeds.sampler_seed(7, 123, grid=False) == 123
    assert [seeds.baseline_seed(100, i) for i in range(3)] == [101, 102, 103]
