"""Contracts of privet.dp's value mechanisms: types, grids, events, charging, bad inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.accounting.events import (
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    PrivacyEvent,
)
from privet.core import SecureRandom
from privet.core.errors import (
    BudgetExceededError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.dp.discrete import (
    discrete_gaussian,
    discrete_gaussian_release,
    discrete_laplace,
    discrete_laplace_release,
)
from privet.dp.mechanisms import (
    Chargeable,
    Release,
    gaussian,
    gaussian_release,
    laplace,
    laplace_release,
    round_up_scale,
    snap_and_add,
)
from privet.store import Ledger


class SpyRandom(SecureRandom):
    """A SecureRandom that counts how often keystream is drawn."""

    def _fill_view(self, view: memoryview) -> None:
        self.draws = getattr(self, "draws", 0) + 1
        super()._fill_view(view)


class FakeBudget:
    """Records events; refuses every charge when ``refuse`` is set (and records nothing)."""

    def __init__(self, *, refuse: bool = False, filter: str = "basic") -> None:
        self.refuse = refuse
        self.filter = filter
        self.charges: list[tuple[PrivacyEvent, str, float | None]] = []

    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> str:
        if self.refuse:
            raise BudgetExceededError("cannot afford this charge (fake budget)")
        self.charges.append((event, label, delta))
        return f"charge-{len(self.charges)}"


def rng() -> SecureRandom:
    return SecureRandom.seeded(11)


# Every value mechanism, called with valid parameters: (name, call(value, **extra)).
MECHANISMS: list[tuple[str, Callable[..., Any], Any]] = [
    ("laplace", lambda v, **k: laplace(v, sensitivity=1.0, epsilon=1.0, **k), 2.5),
    (
        "gaussian",
        lambda v, **k: gaussian(v, sensitivity=1.0, epsilon=1.0, delta=1e-6, **k),
        2.5,
    ),
    ("discrete_laplace", lambda v, **k: discrete_laplace(v, sensitivity=1, epsilon=1.0, **k), 7),
    (
        "discrete_gaussian",
        lambda v, **k: discrete_gaussian(v, sensitivity=1, epsilon=1.0, delta=1e-6, **k),
        7,
    ),
]


# -- types and shapes -----------------------------------------------------------------------


def test_float_in_float_out_and_array_shape_kept() -> None:
    assert type(laplace(1.0, sensitivity=1.0, epsilon=1.0, rng=rng())) is float
    assert type(laplace(3, sensitivity=1.0, epsilon=1.0, rng=rng())) is float
    assert type(gaussian(np.float32(1.0), sensitivity=1.0, epsilon=1.0, delta=1e-6)) is float
    for fn in (laplace, lambda v, **k: gaussian(v, delta=1e-6, **k)):
        for shape in [(5,), (2, 3), (), (0,), (1,)]:
            out = fn(np.zeros(shape, dtype=np.int32), sensitivity=1.0, epsilon=1.0, rng=rng())
            assert isinstance(out, np.ndarray)
            assert out.shape == shape
            assert out.dtype == np.float64


def test_integer_mechanisms_keep_integer_types() -> None:
    out = discrete_laplace(10**30, sensitivity=1, epsilon=1.0, rng=rng())
    assert type(out) is int
    assert abs(out - 10**30) < 10**3
    assert type(discrete_gaussian(np.int16(4), sensitivity=2, sigma=3.0, rng=rng())) is int
    arr = discrete_laplace(np.arange(6, dtype=np.uint8).reshape(2, 3), sensitivity=1, epsilon=1.0)
    assert arr.shape == (2, 3)
    assert arr.dtype == np.int64
    arr = discrete_gaussian(np.zeros(4, dtype=np.int64), sensitivity=1, epsilon=1.0, delta=1e-6)
    assert arr.shape == (4,)
    assert arr.dtype == np.int64


def test_int64_extremes_saturate_instead_of_wrapping() -> None:
    big = np.array([2**63 - 1, -(2**63), 0], dtype=np.int64)
    out = discrete_laplace(big, sensitivity=1, epsilon=0.01, rng=rng())
    assert out[0] > 2**62
    assert out[1] < -(2**62)


@pytest.mark.parametrize(
    "release",
    [
        lambda v, r: laplace_release(v, sensitivity=0.5, epsilon=0.3, rng=r),
        lambda v, r: gaussian_release(v, sensitivity=0.5, epsilon=0.3, delta=1e-7, rng=r),
    ],
    ids=["laplace", "gaussian"],
)
def test_outputs_lie_on_the_grid(release: Callable[..., Release]) -> None:
    x = np.array([0.0, -1e-300, 3.14159, -2.5e7, 1e15, 123.456])
    rel = release(x, SecureRandom.seeded(3))
    gamma = rel.granularity
    assert gamma is not None
    assert math.log2(gamma).is_integer()
    q = rel.value / gamma
    assert np.array_equal(q, np.rint(q))
    # γ depends on the public parameters only (Δ, ε, δ, d), never on the data
    assert release(x * 1e6 + 7.0, SecureRandom.seeded(4)).granularity == gamma


def test_snap_and_add_is_exact_integer_arithmetic() -> None:
    j = -10
    x = np.array([0.3, -7.0, 2.0**80, -(2.0**70) + 1024.0, 5e-324, np.finfo(float).max])
    z = np.array([3, -2, 1, 2**54 + 1, 0, 0], dtype=np.int64)
    out = snap_and_add(x, j, z)
    step = Fraction(2) ** j
    for xi, zi, oi in zip(x.tolist(), z.tolist(), out.tolist(), strict=True):
        exact = (round(Fraction(xi) / step) + zi) * step
        try:
            expected = float(exact)  # correctly rounded
        except OverflowError:
            expected = math.copysign(math.inf, exact)
        assert oi == expected


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.floats(min_value=1e-6, max_value=1e6),
    st.floats(min_value=1e-3, max_value=20.0),
)
@settings(max_examples=60, deadline=None)
def test_laplace_property_type_grid_and_reported_epsilon(x: float, sens: float, eps: float) -> None:
    rel = laplace_release(x, sensitivity=sens, epsilon=eps, rng=SecureRandom.seeded(1))
    assert type(rel.value) is float
    assert rel.granularity is not None
    assert rel.integer_sensitivity is not None
    assert (rel.value / rel.granularity).is_integer()
    assert rel.epsilon <= eps
    assert rel.epsilon >= eps * (1 - 2**-40)
    assert rel.integer_sensitivity >= sens / rel.granularity  # the inflation is counted
    inflation = rel.sensitivity_inflation
    assert inflation is not None
    assert 1.0 <= inflation <= 1.0 + 2**-19


# -- what a release says ------------------------------------------------------------------------


def test_laplace_release_reports_the_noise_and_guarantee() -> None:
    rel = laplace_release(np.zeros(3), sensitivity=2.0, epsilon=0.5, label="ages", rng=rng())
    assert isinstance(rel, Release)
    assert rel.mechanism == "laplace"
    assert rel.event == DiscreteLaplaceEvent(epsilon=0.5)
    assert rel.delta == 0.0
    assert rel.rho is None
    assert rel.label == "ages"
    assert rel.charge is None
    assert isinstance(rel.noise_parameter, Fraction)
    assert rel.integer_sensitivity is not None
    assert rel.granularity is not None
    # ε met = Δ_int / t exactly, never above ε
    met = Fraction(rel.integer_sensitivity) / rel.noise_parameter
    assert met <= Fraction(0.5)
    assert rel.epsilon >= met
    assert rel.noise_std == pytest.approx(math.sqrt(2) * 2.0 / 0.5, rel=1e-5)
    # 95 % half-width of Laplace(b): b·ln(20)
    assert rel.ci95 == pytest.approx(4.0 * math.log(20), rel=1e-4)
    assert "laplace" in repr(rel)


def test_gaussian_release_scalar_is_exact_theorem7_calibration() -> None:
    from privet.dp.calibration import discrete_gaussian_delta, gaussian_noise_multiplier

    rel = gaussian_release(5.0, sensitivity=1.0, epsilon=1.0, delta=1e-5, rng=rng())
    assert isinstance(rel.event, DiscreteGaussianEvent)
    s2 = rel.noise_parameter
    assert s2 is not None
    assert s2.denominator == 1
    assert rel.event.sensitivity == rel.integer_sensitivity
    assert rel.event.sigma**2 <= s2  # the event never overstates σ
    assert rel.epsilon == 1.0
    assert rel.delta <= 1e-5
    assert discrete_gaussian_delta(
        1.0, sigma_squared=int(s2), sensitivity=rel.integer_sensitivity
    ) == pytest.approx(rel.delta)
    # within 0.2 % of the analytic (continuous) Gaussian mechanism's σ
    assert rel.noise_std == pytest.approx(gaussian_noise_multiplier(1.0, 1e-5), rel=2e-3)
    assert rel.rho == pytest.approx(rel.integer_sensitivity**2 / (2 * float(s2)))


def test_gaussian_release_vector_uses_zcdp_and_counts_sqrt_d() -> None:
    from privet.dp.calibration import zcdp_epsilon

    d = 10_000
    rel = gaussian_release(np.zeros(d), sensitivity=3.0, epsilon=1.0, delta=1e-6, rng=rng())
    assert rel.granularity is not None
    assert rel.integer_sensitivity is not None
    units = 3.0 / rel.granularity
    assert rel.integer_sensitivity >= units + math.sqrt(d)
    assert rel.rho is not None
    assert rel.epsilon <= 1.0
    assert zcdp_epsilon(rel.rho, 1e-6) <= 1.0
    assert rel.delta == 1e-6
    inflation = rel.sensitivity_inflation
    assert inflation is not None
    assert 1.0 < inflation < 1.05


# -- charging ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "call", "value"), MECHANISMS)
def test_refused_charge_draws_no_noise(name: str, call: Callable[..., Any], value: Any) -> None:
    spy = SpyRandom.seeded(5)
    before = getattr(spy, "draws", 0)
    with pytest.raises(BudgetExceededError):
        call(value, budget=FakeBudget(refuse=True), rng=spy)
    assert getattr(spy, "draws", 0) == before, f"{name} drew noise before the charge"
    # and an accepted charge does draw
    budget = FakeBudget()
    call(value, budget=budget, label=name, rng=spy)
    assert getattr(spy, "draws", 0) > before
    assert len(budget.charges) == 1
    assert budget.charges[0][1] == name


def test_events_charged_have_the_right_parameters() -> None:
    budget = FakeBudget()
    laplace(1.0, sensitivity=1.0, epsilon=0.3, budget=budget)
    discrete_laplace(1, sensitivity=2, epsilon=0.7, budget=budget)
    gaussian(1.0, sensitivity=1.0, epsilon=0.9, delta=1e-7, budget=budget)
    discrete_gaussian(1, sensitivity=3, sigma=10.0, budget=budget)
    (e1, _, d1), (e2, _, d2), (e3, _, d3), (e4, _, d4) = budget.charges
    assert e1 == DiscreteLaplaceEvent(epsilon=0.3)
    assert d1 is None
    assert e2 == DiscreteLaplaceEvent(epsilon=0.7)
    assert d2 is None
    assert isinstance(e3, DiscreteGaussianEvent)
    assert d3 == 1e-7
    assert e4 == DiscreteGaussianEvent(sigma=10.0, sensitivity=3)
    assert d4 is None
    # an rdp budget prices by the curve: no δ is passed to it
    rdp = FakeBudget(filter="rdp")
    gaussian(1.0, sensitivity=1.0, epsilon=0.9, delta=1e-7, budget=rdp)
    assert rdp.charges[0][2] is None


def test_real_ledger_budget_charges_and_refuses(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("stats", epsilon=1.0)
        assert isinstance(budget, Chargeable)
        rel = laplace_release(3.0, sensitivity=1.0, epsilon=0.6, budget=budget, label="q1")
        assert rel.charge is not None
        assert budget.spent()[0] == pytest.approx(0.6)
        spy = SpyRandom.seeded(1)
        with pytest.raises(BudgetExceededError):
            laplace(3.0, sensitivity=1.0, epsilon=0.6, budget=budget, rng=spy)
        assert getattr(spy, "draws", 0) == 0
        assert budget.spent()[0] == pytest.approx(0.6)  # nothing recorded
        assert [c.label for c in budget.history()] == ["q1"]

        approx = ledger.budget("gauss", epsilon=3.0, delta=1e-5, filter="basic")
        rel = gaussian_release(1.0, sensitivity=1.0, epsilon=1.0, delta=1e-6, budget=approx)
        eps_charged, delta_charged = approx.spent()
        assert delta_charged == pytest.approx(1e-6)
        assert eps_charged == pytest.approx(1.0, abs=0.01)  # PLD of the discrete Gaussian


# -- bad inputs --------------------------------------------------------------------------------

# Untyped aliases: the bad calls below are wrong on purpose.
any_laplace: Any = laplace
any_gaussian: Any = gaussian
any_discrete_laplace: Any = discrete_laplace
any_discrete_gaussian: Any = discrete_gaussian

BAD_CALLS: list[tuple[Callable[[], Any], type[PrivetError], str]] = [
    (lambda: any_laplace(1.0, sensitivity=1.0, epsilon=0.0), ParameterError, "epsilon"),
    (lambda: any_laplace(1.0, sensitivity=1.0, epsilon=-1.0), ParameterError, "epsilon"),
    (lambda: any_laplace(1.0, sensitivity=1.0, epsilon=math.nan), ParameterError, "epsilon"),
    (lambda: any_laplace(1.0, sensitivity=1.0, epsilon=math.inf), ParameterError, "epsilon"),
    (lambda: any_laplace(1.0, sensitivity=-1.0, epsilon=1.0), ParameterError, "sensitivity"),
    (lambda: any_laplace(1.0, sensitivity=0.0, epsilon=1.0), ParameterError, "sensitivity"),
    (lambda: any_laplace(1.0, sensitivity=math.inf, epsilon=1.0), ParameterError, "sensitivity"),
    (lambda: any_laplace(math.nan, sensitivity=1.0, epsilon=1.0), DataError, "NaN"),
    (
        lambda: any_laplace(np.array([1.0, math.inf]), sensitivity=1.0, epsilon=1.0),
        DataError,
        "NaN",
    ),
    (lambda: any_laplace("3", sensitivity=1.0, epsilon=1.0), ParameterTypeError, "value"),
    (lambda: any_laplace([1.0], sensitivity=1.0, epsilon=1.0), ParameterTypeError, "value"),
    (lambda: any_laplace(True, sensitivity=1.0, epsilon=1.0), ParameterTypeError, "bool"),
    (
        lambda: any_laplace(np.array(["a"]), sensitivity=1.0, epsilon=1.0),
        ParameterTypeError,
        "dtype",
    ),
    (lambda: any_laplace(1.0, sensitivity="1", epsilon=1.0), ParameterTypeError, "sensitivity"),
    (
        lambda: any_laplace(1.0, sensitivity=1.0, epsilon=1.0, rng=np.random.default_rng()),
        ParameterTypeError,
        "SecureRandom",
    ),
    (
        lambda: any_laplace(1.0, sensitivity=1.0, epsilon=1.0, budget=object()),
        ParameterTypeError,
        "budget",
    ),
    (lambda: any_laplace(1.0, sensitivity=1.0, epsilon=1.0, label=3), ParameterTypeError, "label"),
    (lambda: any_gaussian(1.0, sensitivity=1.0, epsilon=1.0, delta=0.0), ParameterError, "delta"),
    (lambda: any_gaussian(1.0, sensitivity=1.0, epsilon=1.0, delta=1.0), ParameterError, "delta"),
    (lambda: any_gaussian(1.0, sensitivity=1.0, epsilon=1.0, delta=-0.1), ParameterError, "delta"),
    (
        lambda: any_gaussian(1.0, sensitivity=1.0, epsilon=1.0, delta=math.nan),
        ParameterError,
        "delta",
    ),
    (
        lambda: any_gaussian(1.0, sensitivity=1.0, epsilon=1e-7, delta=1e-9),
        ParameterError,
        "sampler",
    ),
    (lambda: any_discrete_laplace(1.5, sensitivity=1, epsilon=1.0), ParameterTypeError, "laplace"),
    (
        lambda: any_discrete_laplace(np.array([1.0]), sensitivity=1, epsilon=1.0),
        ParameterTypeError,
        "integer",
    ),
    (lambda: any_discrete_laplace(1, sensitivity=1.5, epsilon=1.0), ParameterTypeError, "integer"),
    (lambda: any_discrete_laplace(1, sensitivity=0, epsilon=1.0), ParameterError, "sensitivity"),
    (lambda: any_discrete_laplace(1, sensitivity=1, epsilon=1e-20), ParameterError, "2**48"),
    (lambda: any_discrete_gaussian(1, sensitivity=1), ParameterError, "epsilon and delta"),
    (lambda: any_discrete_gaussian(1, sensitivity=1, epsilon=1.0), ParameterError, "delta"),
    (
        lambda: any_discrete_gaussian(1, sensitivity=1, epsilon=1.0, delta=1e-6, sigma=2.0),
        ParameterError,
        "not both",
    ),
    (lambda: any_discrete_gaussian(1, sensitivity=1, sigma=-2.0), ParameterError, "sigma"),
    (lambda: any_discrete_gaussian(1, sensitivity=1, sigma=1e9), ParameterError, "sampler"),
    (
        lambda: any_discrete_gaussian(1, sensitivity=10**6, epsilon=0.1, delta=1e-9),
        ParameterError,
        "sampler",
    ),
]


@pytest.mark.parametrize(("call", "error", "mentions"), BAD_CALLS)
def test_bad_inputs_raise_clear_privet_errors(
    call: Callable[[], Any], error: type[PrivetError], mentions: str
) -> None:
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, PrivetError)
    assert mentions in str(info.value)


def test_errors_never_show_the_private_value() -> None:
    secret = 1234567.891
    with pytest.raises(DataError) as info:
        laplace(np.array([secret, math.nan]), sensitivity=1.0, epsilon=1.0)
    assert "1234567" not in str(info.value)


def test_round_up_scale_never_rounds_down() -> None:
    for x in [Fraction(1, 3), Fraction(10**20 + 1, 10**7 + 3), Fraction(2**47, 7), Fraction(5)]:
        y = round_up_scale(x, what="test")
        assert y >= x
        assert y.numerator <= 2**48
        assert y.denominator <= 2**48
        assert y - x <= x * Fraction(1, 2**20)


def test_discrete_release_reports_exact_parameters() -> None:
    rel = discrete_laplace_release(np.zeros(2, dtype=np.int64), sensitivity=3, epsilon=0.25)
    assert rel.noise_parameter == Fraction(12)
    assert rel.epsilon == 0.25
    assert rel.granularity == 1.0
    assert rel.integer_sensitivity == 3
    rel = discrete_gaussian_release(0, sensitivity=1, sigma=2.5, delta=1e-6)
    assert rel.noise_parameter == Fraction(25, 4)
    assert rel.rho == pytest.approx(1 / (2 * 6.25))
    assert rel.epsilon < math.inf
    assert rel.delta == 1e-6
    rel = discrete_gaussian_release(0, sensitivity=1, sigma=0.1)
    assert rel.noise_parameter is not None
    assert rel.noise_parameter >= Fraction(0.1) ** 2
    assert rel.epsilon == math.inf
    assert rel.delta == 0.0


def test_integers_beyond_2_53_are_rounded_to_the_grid_exactly() -> None:
    # float64(2**60 + 1) == 2**60: converting first would merge neighbours' values and break
    # the sensitivity bound; privet keeps such entries exact.
    from privet.dp.mechanisms import as_float_values

    vals = as_float_values(np.array([2**60 + 1, 5, -(2**60) - 3], dtype=np.int64))
    assert set(vals.exact) == {0, 2}
    assert vals.exact[0] == 2**60 + 1
    out = snap_and_add(vals.array, 0, np.array([-(2**60), 0, 2**60], dtype=np.int64), vals.exact)
    assert out.tolist() == [1.0, 5.0, -3.0]
    scalar = as_float_values(2**70 + 1)
    assert scalar.scalar
    assert scalar.exact == {0: Fraction(2**70 + 1)}
    assert as_float_values(Fraction(1, 3)).exact == {0: Fraction(1, 3)}
    assert as_float_values(7).exact == {}
    rel = laplace_release(10**400, sensitivity=1.0, epsilon=1.0, rng=rng())  # no overflow
    assert rel.value == math.inf  # the exact sum, rounded to float: beyond float64's range
