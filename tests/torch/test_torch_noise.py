"""The noise: N(0, σ²C²) per coordinate, drawn by SecureRandom, once per logical step."""

from __future__ import annotations

import numpy as np
import torch
import torch_helpers  # noqa: F401  (two threads at most)
from scipy import stats
from torch import nn
from torch.utils.data import TensorDataset

from privet.core.random import SecureRandom
from privet.torch import make_private
from privet.torch.optimizer import secure_normal

P_MIN = 1e-6
SIGMA, C = 1.5, 2.0


def _zero_gradient_run(seed: int, reduction: str, steps: int) -> tuple[np.ndarray, int, int]:
    """Train on a loss whose gradient is zero: the update is the noise alone."""
    torch.manual_seed(0)
    model = nn.Linear(50, 40)
    data = TensorDataset(torch.randn(100, 50), torch.zeros(100))
    _, opt, loader = make_private(
        model, torch.optim.SGD(model.parameters(), lr=1.0), data, noise_multiplier=SIGMA,
        max_grad_norm=C, sample_rate=0.1, loss_reduction=reduction,
        rng=SecureRandom.seeded(seed),
    )  # fmt: skip
    grads = []
    for _ in range(steps):
        x, _ = next(iter(loader))
        opt.zero_grad()
        (0.0 * model(x)).sum().backward()
        opt.step()
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in model.parameters()]))
    return np.concatenate(grads), opt.steps, len(data)


def test_noise_has_standard_deviation_sigma_times_c() -> None:
    z, steps, _ = _zero_gradient_run(seed=10, reduction="sum", steps=5)
    assert steps == 5
    assert z.size == 5 * (50 * 40 + 40)
    n = z.size
    # mean: z-test; variance: (n-1)s²/(σC)² ~ χ²(n-1); shape: KS against N(0, (σC)²)
    assert 2 * stats.norm.sf(abs(z.mean()) / (SIGMA * C / np.sqrt(n))) > P_MIN
    chi = (n - 1) * z.var(ddof=1) / (SIGMA * C) ** 2
    assert 2 * min(stats.chi2.cdf(chi, n - 1), stats.chi2.sf(chi, n - 1)) > P_MIN
    assert stats.kstest(z, stats.norm(scale=SIGMA * C).cdf).pvalue > P_MIN
    assert abs(z.std() / (SIGMA * C) - 1) < 0.03


def test_noise_is_the_secure_generators_gaussian_stream() -> None:
    # Replay the seeded generator: one Bernoulli draw per example (the batch), then the
    # noise for every coordinate, in parameter order, divided by q·n for a mean loss.
    z, _, n = _zero_gradient_run(seed=99, reduction="mean", steps=1)
    replay = SecureRandom.seeded(99)
    replay.bernoulli(n, p=0.1)
    want = replay.normal(z.size, scale=SIGMA * C) / (0.1 * n)
    np.testing.assert_allclose(z, want.astype(np.float32), rtol=1e-6)


def test_the_torch_transform_equals_secure_random_normal() -> None:
    got = secure_normal(SecureRandom.seeded(8), 100_001, scale=3.0).numpy()
    want = SecureRandom.seeded(8).normal(100_001, scale=3.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
