"""Task sampling: probabilities match their definition, empirical frequencies match the
probabilities within binomial error, ranks get disjoint windows, state resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_biomoe.errors import ConfigError
from tiny_biomoe.pretrain import MultiTaskSampler, task_probabilities

SIZES = [5000, 500, 50]


def test_probability_definitions():
    n = np.array(SIZES, dtype=float)
    np.testing.assert_allclose(task_probabilities(SIZES, "proportional"), n / n.sum())
    np.testing.assert_allclose(task_probabilities(SIZES, "uniform"), [1 / 3] * 3)
    for T in (0.5, 1.0, 2.0, 5.0):
        w = np.array([s ** (1.0 / T) for s in SIZES])
        np.testing.assert_allclose(task_probabilities(SIZES, "temperature", T), w / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(task_probabilities(SIZES, "temperature", 1.0), n / n.sum(), rtol=1e-12)
    with pytest.raises(ConfigError):
        task_probabilities([10, 0], "proportional")
    with pytest.raises(ConfigError):
        task_probabilities([10, 5], "softmax")


@pytest.mark.parametrize("strategy, temperature", [("proportional", 1.0), ("uniform", 1.0), ("temperature", 3.0)])
def test_sampling_frequencies_match_probabilities(strategy, temperature):
    p = task_probabilities(SIZES, strategy, temperature)
    s = MultiTaskSampler(SIZES, p, batch_size=1, seed=123)
    draws = 20000
    counts = np.bincount([s.task_of(m) for m in range(draws)], minlength=len(SIZES))
    freq = counts / draws
    sigma = np.sqrt(p * (1 - p) / draws)
    # 4.5 binomial standard deviations: a correct sampler fails this with probability < 1e-5 per task
    assert np.all(np.abs(freq - p) <= 4.5 * sigma + 1e-12), (freq, p, sigma)


def test_ranks_get_disjoint_windows_covering_each_epoch():
    sizes = [12, 7]
    p = task_probabilities(sizes, "uniform")
    samplers = [MultiTaskSampler(sizes, p, batch_size=2, seed=5, rank=r, world_size=3) for r in range(3)]
    for _ in range(2):  # two global batches of the same task: 2 * 3 ranks * 2 = 12 = one epoch of task 0
        pos = [s.positions(0, s.consumed[0]) for s in samplers]
        for s in samplers:
            s.consumed[0] += 1
        flat = np.concatenate(pos)
        assert len(set(flat.tolist())) == len(flat)  # no window shared between ranks
    seen = np.concatenate([np.concatenate([s.positions(0, c) for s in samplers]) for c in range(2)])
    assert sorted(seen.tolist()) == list(range(12))  # an epoch is a permutation


def test_state_dict_resumes_the_same_sequence():
    p = task_probabilities([30, 20, 10], "temperature", 2.0)
    a = MultiTaskSampler([30, 20, 10], p, batch_size=4, n_kinds=[2, 1, 3], seed=9)
    straight = [a.next() for _ in range(25)]
    b = MultiTaskSampler([30, 20, 10], p, batch_size=4, n_kinds=[2, 1, 3], seed=9)
    for _ in range(10):
        b.next()
    c = MultiTaskSampler([30, 20, 10], p, batch_size=4, n_kinds=[2, 1, 3], seed=9)
    c.load_state_dict(b.state_dict())
    resumed = straight[:10] + [c.next() for _ in range(15)]
    for x, y in zip(straight, resumed):
        assert x.task == y.task
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.kinds, y.kinds)
    with pytest.raises(ConfigError, match="same shards and seed"):
        MultiTaskSampler([30, 20], task_probabilities([30, 20]), 4, seed=9).load_state_dict(b.state_dict())
