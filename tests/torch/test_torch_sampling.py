"""Poisson sampling: batch sizes are Binomial(n, q), every example equally likely, chunks.

Seeded generators make the statistical tests deterministic; thresholds (p < 1e-6) would
give a false alarm less than once in a million seeds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch_helpers  # noqa: F401  (two threads at most)
from scipy import stats
from torch.utils.data import Dataset, TensorDataset

from privet.core.random import SecureRandom
from privet.errors import ParameterError
from privet.torch import DPDataLoader, PoissonSampler
from privet.torch.sampling import steps_per_epoch

P_MIN = 1e-6


def _pooled_chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    """χ² p-value after pooling adjacent cells until each expects at least 5."""
    obs, exp, o, e = [], [], 0.0, 0.0
    for a, b in zip(observed, expected, strict=True):
        o, e = o + a, e + b
        if e >= 5:
            obs.append(o)
            exp.append(e)
            o, e = 0.0, 0.0
    obs[-1] += o
    exp[-1] += e
    return float(stats.chisquare(obs, exp).pvalue)


def test_batch_sizes_follow_the_binomial_law() -> None:
    n, q, draws = 1000, 0.05, 3000
    sampler = PoissonSampler(n, sample_rate=q, rng=SecureRandom.seeded(2024))
    sizes = np.array([sampler.sample().size for _ in range(draws)])
    counts = np.bincount(sizes, minlength=n + 1)
    expected = draws * stats.binom.pmf(np.arange(n + 1), n, q)
    assert _pooled_chi2(counts, expected) > P_MIN
    assert stats.binomtest(int(sizes.sum()), n * draws, q).pvalue > P_MIN
    assert sizes.std() > 0  # sizes vary: not a fixed-size loader


def test_every_example_is_equally_likely_and_draws_are_independent() -> None:
    n, q, draws = 200, 0.1, 2000
    sampler = PoissonSampler(n, sample_rate=q, rng=SecureRandom.seeded(7))
    hits = np.zeros(n)
    pair = 0  # examples 0 and 1 together: independent means probability q²
    for _ in range(draws):
        idx = sampler.sample()
        assert np.all(np.diff(idx) > 0)
        assert idx.size == 0 or (idx[0] >= 0 and idx[-1] < n)
        hits[idx] += 1
        pair += int(0 in idx and 1 in idx)
    assert stats.chisquare(hits).pvalue > P_MIN
    assert stats.binomtest(pair, draws, q * q).pvalue > P_MIN


def test_steps_per_epoch_is_one_over_q() -> None:
    assert steps_per_epoch(1 / 128) == 128
    assert steps_per_epoch(0.3) == 3
    assert steps_per_epoch(1.0) == 1
    with pytest.raises(ParameterError):
        steps_per_epoch(0.0)


def test_loader_yields_one_epoch_of_batches_and_chunks_large_ones() -> None:
    data = TensorDataset(torch.arange(100.0), torch.arange(100))
    loader = DPDataLoader(data, sample_rate=0.5, rng=SecureRandom.seeded(1))
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    chunked = DPDataLoader(
        data, sample_rate=0.5, max_physical_batch_size=8, rng=SecureRandom.seeded(1)
    )
    parts = list(chunked)
    assert all(len(y) <= 8 for _, y in parts)
    # same generator state: the chunks are the same examples, in order
    assert torch.equal(torch.cat([y for _, y in parts]), torch.cat([y for _, y in batches]))


class Pairs(Dataset[tuple[torch.Tensor, int]]):
    """A map-style dataset without fancy indexing (collated example by example)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.full((3,), float(i)), i % 2


def test_generic_datasets_are_collated_and_empty_batches_keep_their_shape() -> None:
    loader = DPDataLoader(Pairs(), sample_rate=1.0, rng=SecureRandom.seeded(0))
    ((x, y),) = list(loader)
    assert x.shape == (10, 3)
    assert y.tolist() == [i % 2 for i in range(10)]
    empty = DPDataLoader(Pairs(), sample_rate=1e-12, rng=SecureRandom.seeded(0))
    for x, y in itertools.islice(empty, 3):
        assert x.shape == (0, 3)
        assert y.shape == (0,)
