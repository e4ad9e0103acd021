"""dpsgd_epsilon and calibrate_noise_multiplier."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.accounting import (
    GaussianEvent,
    PLDAccountant,
    PoissonSampledEvent,
    RDPAccountant,
    SelfComposedEvent,
    calibrate_noise_multiplier,
    dpsgd_epsilon,
)
from privet.accounting.dpsgd import _OutOfReachError, _search
from privet.errors import ParameterError, ParameterTypeError

BASE: dict[str, Any] = {"noise_multiplier": 2.0, "sample_rate": 0.01, "steps": 100, "delta": 1e-5}


@pytest.mark.parametrize("method", ["pld", "rdp"])
def test_dpsgd_epsilon_is_the_accountant_s_epsilon_of_the_dpsgd_event(method: str) -> None:
    event = SelfComposedEvent(
        event=PoissonSampledEvent(
            sampling_probability=0.01, event=GaussianEvent(noise_multiplier=2.0)
        ),
        count=100,
    )
    acc = PLDAccountant() if method == "pld" else RDPAccountant()
    assert dpsgd_epsilon(**BASE, method=method) == acc.compose(event).get_epsilon(1e-5)


@pytest.mark.parametrize("method", ["pld", "rdp"])
def test_zero_steps_cost_nothing(method: str) -> None:
    assert dpsgd_epsilon(**{**BASE, "steps": 0}, method=method) == 0.0


def test_pld_is_tighter_than_rdp() -> None:
    assert dpsgd_epsilon(**BASE) < dpsgd_epsilon(**BASE, method="rdp")


@pytest.mark.parametrize("method", ["pld", "rdp"])
def test_epsilon_moves_the_right_way(method: str) -> None:
    eps = dpsgd_epsilon(**BASE, method=method)
    assert dpsgd_epsilon(**{**BASE, "noise_multiplier": 3.0}, method=method) < eps
    assert dpsgd_epsilon(**{**BASE, "steps": 300}, method=method) > eps
    assert dpsgd_epsilon(**{**BASE, "sample_rate": 0.03}, method=method) > eps
    assert dpsgd_epsilon(**{**BASE, "delta": 1e-3}, method=method) < eps


@pytest.mark.parametrize(
    ("field", "bad", "error"),
    [
        ("noise_multiplier", 0.0, ParameterError),
        ("noise_multiplier", -1.0, ParameterError),
        ("noise_multiplier", math.nan, ParameterError),
        ("noise_multiplier", "1.0", ParameterTypeError),
        ("noise_multiplier", True, ParameterTypeError),
        ("sample_rate", 0.0, ParameterError),
        ("sample_rate", 1.5, ParameterError),
        ("sample_rate", math.inf, ParameterError),
        ("sample_rate", None, ParameterTypeError),
        ("steps", -1, ParameterError),
        ("steps", 10.0, ParameterTypeError),
        ("steps", True, ParameterTypeError),
        ("delta", 0.0, ParameterError),
        ("delta", 1.0, ParameterError),
        ("delta", -1e-5, ParameterError),
        ("delta", "1e-5", ParameterTypeError),
        ("method", "prv", ParameterError),
        ("method", "PLD", ParameterError),
        ("method", 1, ParameterTypeError),
    ],
)
def test_bad_values_are_refused_naming_the_value(
    field: str, bad: Any, error: type[Exception]
) -> None:
    kwargs = {**BASE, "method": "rdp", field: bad}
    with pytest.raises(error) as info:
        dpsgd_epsilon(**kwargs)
    message = str(info.value)
    assert field in message
    assert repr(bad) in message or str(float(bad)) in message


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        dpsgd_epsilon(2.0, 0.01, 100, 1e-5)  # type: ignore[misc]


# --- calibrate_noise_multiplier ----------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    target=st.floats(min_value=0.3, max_value=10.0),
    delta=st.floats(min_value=1e-8, max_value=1e-3),
    q=st.floats(min_value=1e-3, max_value=0.2),
    steps=st.integers(1, 100),
    tolerance=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_calibration_never_overshoots_rdp(
    target: float, delta: float, q: float, steps: int, tolerance: float
) -> None:
    kwargs = {"delta": delta, "sample_rate": q, "steps": steps, "method": "rdp"}
    if dpsgd_epsilon(noise_multiplier=1e4, **kwargs) > target:  # out of reach even at the top
        with pytest.raises(ParameterError, match="out of reach"):
            calibrate_noise_multiplier(target_epsilon=target, tolerance=tolerance, **kwargs)
        return
    sigma = calibrate_noise_multiplier(target_epsilon=target, tolerance=tolerance, **kwargs)
    assert dpsgd_epsilon(noise_multiplier=sigma, **kwargs) <= target
    # … and it is close to the smallest σ that meets the target (unless at the floor).
    if sigma > 1e-2:
        assert dpsgd_epsilon(noise_multiplier=sigma / (1 + tolerance) * 0.999, **kwargs) > target


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    start=st.floats(min_value=1e-3, max_value=1e5),
    slope=st.floats(min_value=-10.0, max_value=10.0),
    tol=st.floats(min_value=1e-4, max_value=0.5),
    noise=st.booleans(),
)
def test_the_search_returns_a_feasible_point_whatever_the_function(
    seed: int, start: float, slope: float, tol: float, noise: bool
) -> None:
    """The invariant behind "never overshoots": the σ returned was evaluated feasible.

    The gap function here is arbitrary: monotone with a random root, or pure noise.
    """
    rng = random.Random(seed)
    root = math.exp(rng.uniform(math.log(1e-3), math.log(2e4)))
    seen: dict[float, float] = {}

    def gap(sigma: float) -> float:
        if noise:
            seen[sigma] = rng.uniform(-1.0, 1.0)
        else:
            seen[sigma] = -math.log(sigma / root) * rng.uniform(0.5, 3.0)
        return seen[sigma]

    try:
        found = _search(gap, start=start, tol=tol, slope=slope)
    except _OutOfReachError:  # then the top of the range was tried and missed the target
        top = max(seen)
        assert top == pytest.approx(1e4)
        assert seen[top] > 0
        return
    assert found.sigma in seen
    assert seen[found.sigma] <= 0
    assert len(seen) < 200
    if not noise and found.sigma > 1e-2 * (1 + 1e-9):
        assert found.sigma <= root * (1 + tol) * (1 + 1e-6)


def test_calibration_with_pld_meets_the_target_and_is_tight() -> None:
    kwargs = {"delta": 1e-5, "sample_rate": 0.01, "steps": 50}
    sigma = calibrate_noise_multiplier(target_epsilon=0.5, **kwargs)
    assert dpsgd_epsilon(noise_multiplier=sigma, **kwargs) <= 0.5
    assert dpsgd_epsilon(noise_multiplier=sigma / 1.01 * 0.999, **kwargs) > 0.5
    # PLD is tighter than RDP, so it needs less noise for the same target.
    assert sigma < calibrate_noise_multiplier(target_epsilon=0.5, method="rdp", **kwargs)


def test_calibration_of_the_abadi_setting() -> None:
    # Abadi et al. 2016 ran q = 0.01, σ = 4, 10,000 steps; RDP gives ε ≈ 1.0355 there, so
    # calibrating to that ε must give back about σ = 4 (RDP: quick).
    kwargs = {"delta": 1e-5, "sample_rate": 0.01, "steps": 10_000, "method": "rdp"}
    sigma = calibrate_noise_multiplier(target_epsilon=1.0355, tolerance=0.001, **kwargs)
    assert sigma == pytest.approx(4.0, rel=0.002)


@pytest.mark.parametrize("method", ["pld", "rdp"])
def test_unreachable_target_is_refused(method: str) -> None:
    with pytest.raises(ParameterError, match="out of reach"):
        calibrate_noise_multiplier(
            target_epsilon=1e-4, delta=1e-5, sample_rate=1.0, steps=1000, method=method
        )


@pytest.mark.parametrize(
    ("field", "bad", "error"),
    [
        ("target_epsilon", 0.0, ParameterError),
        ("target_epsilon", -1.0, ParameterError),
        ("target_epsilon", "1", ParameterTypeError),
        ("tolerance", 0.0, ParameterError),
        ("tolerance", 1.0, ParameterError),
        ("tolerance", math.nan, ParameterError),
        ("steps", 0, ParameterError),
        ("delta", 0.0, ParameterError),
        ("sample_rate", 0.0, ParameterError),
        ("method", "moments", ParameterError),
    ],
)
def test_calibration_refuses_bad_values(field: str, bad: Any, error: type[Exception]) -> None:
    kwargs: dict[str, Any] = {
        "target_epsilon": 1.0,
        "delta": 1e-5,
        "sample_rate": 0.01,
        "steps": 10,
        "method": "rdp",
        field: bad,
    }
    with pytest.raises(error, match=field):
        calibrate_noise_multiplier(**kwargs)
