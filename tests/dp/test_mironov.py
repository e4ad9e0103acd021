"""Mironov's attack on floating-point Laplace noise: it breaks the strawman, not privet.

Mironov 2012 ("On significance of the least significant bits for differential privacy",
ACM CCS 2012): a float Laplace sample ``x + s·b·(−log U)`` can produce output values from
one input that it can never produce from a neighbouring input. The attacker below knows
the sampler; for an output ``o`` and each candidate input ``x`` it recomputes the few
uniforms ``U = k/2^53`` that could have produced ``o`` and checks for an exact match.
Reachable from only one input → that input; otherwise the best likelihood guess.

Any test that tells an ε-DP mechanism's outputs on neighbouring inputs apart (equal priors)
has accuracy at most e^ε/(1 + e^ε). The attack beats that bound by far against the
strawman, and stays within it against privet's ``laplace``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from privet.core import SecureRandom
from privet.dp.mechanisms import laplace, laplace_release

N = 50_000  # outputs per input
SLACK = 0.01  # ≈ 9 standard errors of an accuracy estimated on 2·N outputs


def naive_laplace(x: float, scale: float, n: int, gen: np.random.Generator) -> NDArray[np.float64]:
    """The strawman: textbook inverse-CDF Laplace in float64 (53-bit uniform, random sign)."""
    u = gen.integers(1, 2**53, size=n) * 2.0**-53
    sign = (gen.integers(0, 2, size=n) * 2 - 1).astype(np.float64)
    out: NDArray[np.float64] = x + sign * scale * (-np.log(u))
    return out


def reachable_naive(
    o: NDArray[np.float64], x: float, scale: float, radius: int = 4
) -> NDArray[np.bool_]:
    """Can the strawman output exactly ``o`` from input ``x``? (Search the k near the inverse.)"""
    d = o - x
    sign = np.where(d < 0, -1.0, 1.0)
    k0 = np.rint(np.exp(-np.abs(d) / scale) * 2.0**53)
    hit = np.zeros(o.size, dtype=bool)
    for dk in range(-radius, radius + 1):
        k = k0 + dk
        ok = (k >= 1) & (k < 2.0**53)
        u = np.where(ok, k, 1.0) * 2.0**-53
        hit |= ok & (x + sign * scale * (-np.log(u)) == o)
    return hit


def attack_accuracy(
    out0: NDArray[np.float64],
    out1: NDArray[np.float64],
    reach0: NDArray[np.bool_] | None = None,
    reach1: NDArray[np.bool_] | None = None,
    reach0_of_1: NDArray[np.bool_] | None = None,
    reach1_of_0: NDArray[np.bool_] | None = None,
) -> float:
    """Accuracy of: reachable from one input only → it; else the likelihood rule o ≥ 1/2."""

    def guess(
        o: NDArray[np.float64], r0: NDArray[np.bool_], r1: NDArray[np.bool_]
    ) -> NDArray[np.int64]:
        g = (o >= 0.5).astype(int)
        g[r0 & ~r1] = 0
        g[r1 & ~r0] = 1
        return g

    assert reach0 is not None
    assert reach1 is not None
    assert reach0_of_1 is not None
    assert reach1_of_0 is not None
    g0 = guess(out0, reach0, reach1_of_0)
    g1 = guess(out1, reach0_of_1, reach1)
    return float((np.mean(g0 == 0) + np.mean(g1 == 1)) / 2)


def dp_bound(epsilon: float) -> float:
    return math.exp(epsilon) / (1.0 + math.exp(epsilon))


@pytest.mark.parametrize("epsilon", [0.1, 0.5])
def test_attack_breaks_naive_float_laplace(epsilon: float) -> None:
    scale = 1.0 / epsilon
    gen = np.random.default_rng(2012)
    o0 = naive_laplace(0.0, scale, N, gen)
    o1 = naive_laplace(1.0, scale, N, gen)
    acc = attack_accuracy(
        o0,
        o1,
        reach0=reachable_naive(o0, 0.0, scale),
        reach1=reachable_naive(o1, 1.0, scale),
        reach0_of_1=reachable_naive(o1, 0.0, scale),
        reach1_of_0=reachable_naive(o0, 1.0, scale),
    )
    # The strawman "promises" ε-DP; the attack blows through the bound.
    assert acc > dp_bound(epsilon) + 0.15, (acc, dp_bound(epsilon))
    # The mechanism of the leak: many outputs from input 1 can never come from input 0.
    assert np.mean(~reachable_naive(o1, 0.0, scale)) > 0.3


@pytest.mark.parametrize("epsilon", [0.1, 0.5])
def test_attack_fails_against_privet_laplace(epsilon: float) -> None:
    scale = 1.0 / epsilon
    rng = SecureRandom.seeded(2012)
    rel0 = laplace_release(np.zeros(N), sensitivity=1.0, epsilon=epsilon, rng=rng)
    p0 = rel0.value
    p1 = laplace(np.ones(N), sensitivity=1.0, epsilon=epsilon, rng=rng)
    bound = dp_bound(epsilon) + SLACK
    # 1. The same attack, with the strawman's sampler as the model of the noise.
    acc_naive_model = attack_accuracy(
        p0,
        p1,
        reach0=reachable_naive(p0, 0.0, scale),
        reach1=reachable_naive(p1, 1.0, scale),
        reach0_of_1=reachable_naive(p1, 0.0, scale),
        reach1_of_0=reachable_naive(p0, 1.0, scale),
    )
    assert acc_naive_model <= bound, (acc_naive_model, bound)
    # 2. The attack that knows privet's algorithm: an output is reachable from x iff it
    #    lies on privet's grid (the integer noise can reach every grid point). Both inputs
    #    reach exactly the same set, so only the likelihood guess is left.
    gamma = rel0.granularity  # the grid depends on public parameters only (Δ, ε, d)
    assert gamma is not None

    def on_grid(o: NDArray[np.float64]) -> NDArray[np.bool_]:
        q = o / gamma
        return np.asarray(q == np.rint(q))

    for o in (p0, p1):
        assert on_grid(o).all()
    acc_grid_model = attack_accuracy(
        p0,
        p1,
        reach0=on_grid(p0),
        reach1=on_grid(p1),
        reach0_of_1=on_grid(p1),
        reach1_of_0=on_grid(p0),
    )
    assert acc_grid_model <= bound, (acc_grid_model, bound)


def test_privet_outputs_from_off_grid_neighbours_share_one_grid() -> None:
    # Inputs that are not on the grid (0.1 and 1.1) are rounded first: their outputs lie on
    # the same lattice γ·ℤ, so no output value is exclusive to one input.
    rng = SecureRandom.seeded(7)
    rel = laplace_release(np.full(20_000, 0.1), sensitivity=1.0, epsilon=1.0, rng=rng)
    other = laplace(np.full(20_000, 1.1), sensitivity=1.0, epsilon=1.0, rng=rng)
    gamma = rel.granularity
    assert gamma is not None
    for o in (rel.value, other):
        q = o / gamma
        assert np.array_equal(q, np.rint(q))
    # The low bits carry no information: the last 8 bits of the integer noise are uniform
    # enough that their histograms under the two inputs agree (both are Z mod 256 with the
    # same law, shifted by a multiple of 256).
    z0 = (np.rint(rel.value / gamma).astype(np.int64) - round(0.1 / gamma)) % 256
    z1 = (np.rint(other / gamma).astype(np.int64) - round(1.1 / gamma)) % 256
    assert abs(np.mean(z0) - np.mean(z1)) < 5.0
