"""DP-SGD accounting: ε of a training run, and the noise multiplier for a target ε.

DP-SGD (Abadi et al. 2016, "Deep learning with differential privacy") runs ``steps``
steps; each samples a batch by Poisson sampling (every example independently with
probability ``sample_rate``), clips each example's gradient to L2 norm C and adds
Gaussian noise N(0, (σC)²). One run is the event
``SelfComposedEvent(PoissonSampledEvent(q, GaussianEvent(σ)), steps)`` under
add/remove-one neighbours, priced here by PLD (default, tight) or RDP.

Examples
--------
>>> round(dpsgd_epsilon(noise_multiplier=4.0, sample_rate=0.01, steps=10_000,
...     delta=1e-5), 3)
0.947
>>> sigma = calibrate_noise_multiplier(target_epsilon=2.0, delta=1e-5, sample_rate=0.01,
...     steps=100, method="rdp")
>>> dpsgd_epsilon(noise_multiplier=sigma, sample_rate=0.01, steps=100, delta=1e-5,
...     method="rdp") <= 2.0
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from privet.accounting.accountants import Accountant
from privet.accounting.events import GaussianEvent, PoissonSampledEvent, SelfComposedEvent
from privet.accounting.pld import PLDAccountant
from privet.accounting.rdp import RDPAccountant
from privet.core.checks import check_delta, check_epsilon, check_int, check_positive
from privet.core.checks import check_probability as _check_probability
from privet.core.errors import ParameterError, ParameterTypeError

__all__ = ["calibrate_noise_multiplier", "dpsgd_epsilon"]

_METHODS = ("pld", "rdp")

#: The bracket calibrate_noise_multiplier searches: σ outside it is not useful training.
_SIGMA_MIN = 1e-2
_SIGMA_MAX = 1e4


def _check_method(method: object) -> str:
    if not isinstance(method, str):
        raise ParameterTypeError(
            f"method must be a string, 'pld' or 'rdp', got {type(method).__name__} {method!r}"
        )
    if method not in _METHODS:
        raise ParameterError(
            f"method must be 'pld' (tight) or 'rdp', got {method!r}; pass method='pld'"
        )
    return method


def _check_common(
    *, sample_rate: object, steps: object, delta: object, method: object
) -> tuple[float, int, float, str]:
    q = _check_probability(sample_rate, name="sample_rate", allow_zero=False)
    n = check_int(steps, name="steps", minimum=0)
    d = check_delta(delta)
    if d == 0:
        raise ParameterError(
            "delta must be > 0 for DP-SGD, got 0.0: the Gaussian mechanism is never pure "
            "ε-DP; pass a small delta such as 1e-5 (well below 1/number of examples)"
        )
    return q, n, d, _check_method(method)


def _epsilon(sigma: float, q: float, steps: int, delta: float, method: str) -> float:
    if steps == 0:
        return 0.0
    event = SelfComposedEvent(
        event=PoissonSampledEvent(
            sampling_probability=q, event=GaussianEvent(noise_multiplier=sigma)
        ),
        count=steps,
    )
    accountant: Accountant = PLDAccountant() if method == "pld" else RDPAccountant()
    return accountant.compose(event).get_epsilon(delta)


def dpsgd_epsilon(
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    method: str = "pld",
) -> float:
    """Return ε at ``delta`` of DP-SGD with Poisson sampling (add/remove-one neighbours).

    Parameters
    ----------
    noise_multiplier : float
        σ: noise standard deviation / clipping norm, > 0.
    sample_rate : float
        q: each example's probability of being in a batch, in (0, 1].
    steps : int
        Number of steps ≥ 0 (0 gives ε = 0).
    delta : float
        Target δ in (0, 1).
    method : {"pld", "rdp"}, default "pld"
        Privacy loss distributions (tight) or Rényi DP (a looser upper bound).

    Returns
    -------
    float
        ε ≥ 0.

    Raises
    ------
    ParameterError
        For a value out of range (σ ≤ 0, q ∉ (0, 1], steps < 0, δ ∉ (0, 1), bad method).
    ParameterTypeError
        For an argument of the wrong type (a string, a bool …).

    Examples
    --------
    >>> round(dpsgd_epsilon(noise_multiplier=4.0, sample_rate=0.01, steps=10_000,
    ...     delta=1e-5, method="rdp"), 4)
    1.0355
    """
    sigma = check_positive(noise_multiplier, name="noise_multiplier")
    q, n, d, m = _check_common(sample_rate=sample_rate, steps=steps, delta=delta, method=method)
    return _epsilon(sigma, q, n, d, m)


def calibrate_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    method: str = "pld",
    tolerance: float = 0.01,
) -> float:
    """Return a noise multiplier σ whose DP-SGD ε is at most ``target_epsilon``.

    ε decreases as σ grows. The search brackets the answer in log σ, then shrinks the
    bracket (secant steps aimed just past the answer, bisection when they stall), always
    keeping an end that meets the target: the σ returned is one for which
    :func:`dpsgd_epsilon` (same arguments and method) was computed ≤ ``target_epsilon``,
    never above, and it is at most (1 + ``tolerance``) times a σ computed above the target.
    For ``method="pld"`` an RDP search (cheap, and close) supplies the starting point, so
    that only a few PLD evaluations are needed.

    Parameters
    ----------
    target_epsilon : float
        The ε not to exceed, > 0.
    delta : float
        Target δ in (0, 1).
    sample_rate : float
        q in (0, 1].
    steps : int
        Number of steps ≥ 1.
    method : {"pld", "rdp"}, default "pld"
        The accountant, as in :func:`dpsgd_epsilon`.
    tolerance : float, default 0.01
        Relative precision on σ, in (0, 1).

    Returns
    -------
    float
        σ in [1e-2, 1e4].

    Raises
    ------
    ParameterError
        For a bad value, or when no σ ≤ 1e4 reaches ``target_epsilon``.
    ParameterTypeError
        For an argument of the wrong type.

    Examples
    --------
    >>> sigma = calibrate_noise_multiplier(target_epsilon=0.5, delta=1e-5, sample_rate=0.01,
    ...     steps=50)
    >>> round(sigma, 2)
    1.06
    >>> dpsgd_epsilon(noise_multiplier=sigma, sample_rate=0.01, steps=50, delta=1e-5) <= 0.5
    True
    """
    target = check_epsilon(target_epsilon, name="target_epsilon")
    q, n, d, m = _check_common(sample_rate=sample_rate, steps=steps, delta=delta, method=method)
    if n == 0:
        raise ParameterError(
            "steps must be >= 1 to calibrate, got 0: zero steps cost nothing at any σ"
        )
    tol = check_positive(tolerance, name="tolerance", hint="pass a tolerance such as 0.01")
    if tol >= 1:
        raise ParameterError(f"tolerance must be in (0, 1), got {tol!r}; pass e.g. 0.01")

    log_target = math.log(target)

    def gap(method: str) -> Callable[[float], float]:
        def log_gap(sigma: float) -> float:  # log ε(σ) - log target; decreasing in σ
            eps = _epsilon(sigma, q, n, d, method)
            return math.log(eps) - log_target if eps > 0 else -math.inf

        return log_gap

    try:
        if m == "rdp":
            return _search(gap("rdp"), start=1.0, tol=tol).sigma
        # RDP is cheap and close to PLD (usually above it): its σ and its slope start the
        # PLD search near the answer, so that few expensive PLD evaluations are needed.
        try:
            guess = _search(gap("rdp"), start=1.0, tol=min(tol, 0.01))
        except _OutOfReachError:  # RDP needs more than σ = 1e4: start PLD at the top
            guess = _Found(sigma=_SIGMA_MAX, slope=-1.0)
        return _search(gap("pld"), start=guess.sigma, tol=tol, slope=guess.slope).sigma
    except _OutOfReachError:
        eps_max = _epsilon(_SIGMA_MAX, q, n, d, m)
        raise ParameterError(
            f"target_epsilon={target!r} is out of reach: even noise_multiplier="
            f"{_SIGMA_MAX:g} gives ε={eps_max:.4g} ({m.upper()} accounting, "
            f"sample_rate={q!r}, steps={n}, delta={d!r}); raise target_epsilon or delta, "
            "or lower sample_rate or steps" + (", or use method='pld'" if m == "rdp" else "")
        ) from None


class _OutOfReachError(Exception):
    """No σ up to _SIGMA_MAX meets the target."""


@dataclasses.dataclass(frozen=True)
class _Found:
    sigma: float  # meets the target (its gap was evaluated ≤ 0)
    slope: float  # d gap / d log σ near the answer (< 0), for the next search


def _search(
    gap: Callable[[float], float], *, start: float, tol: float, slope: float = -1.0
) -> _Found:
    """Find σ with ``gap(σ) <= 0`` within a factor (1 + tol) of the boundary.

    Works in x = log σ on [log _SIGMA_MIN, log _SIGMA_MAX]. First it brackets: from
    ``start`` it steps towards the boundary by a Newton estimate (``slope`` is the guess
    of d gap/dx), aiming just past it on the side not yet seen, and moving at least
    log(1 + tol), doubling after repeated misses. Then it shrinks the bracket by secant
    steps aimed just past the estimated root on the feasible side, probing one tolerance
    inside an end when the root looks that close, and bisecting when progress stalls or
    the bracket is within two tolerances.

    Invariant: ``hi`` was evaluated with ``gap <= 0`` and ``lo`` with ``gap > 0``; the σ
    returned is ``hi``'s, so it meets the target whatever ``gap`` does (monotone or not).
    When ``gap`` is monotone, it is at most (1 + tol) times the smallest σ that does.
    """
    tl = math.log1p(tol)
    x_min, x_max = math.log(_SIGMA_MIN), math.log(_SIGMA_MAX)
    s = slope if math.isfinite(slope) and slope < 0 else -1.0

    def point(x: float) -> tuple[float, float, float]:
        sigma = math.exp(x)
        return x, sigma, gap(sigma)

    p0 = point(min(max(math.log(start), x_min), x_max))
    lo: tuple[float, float, float] | None = None if p0[2] <= 0 else p0
    hi: tuple[float, float, float] | None = p0 if p0[2] <= 0 else None
    misses, known = 0, p0  # known: the last point, on the only side seen so far
    while lo is None or hi is None:
        x, sig, g = known
        root = x - g / s if math.isfinite(g) else (x_min if lo is None else x_max)
        least = tl * 2.0 ** max(0, misses - 1)
        if lo is None:  # all seen so far meet the target: go down
            if x <= x_min:
                return _Found(sigma=sig, slope=s)
            xn = max(min(root + tl / 2, x - least), x_min)
        else:  # none meets it yet: go up
            if x >= x_max:
                raise _OutOfReachError
            xn = min(max(root + tl / 2, x + least), x_max)
        pn = known = point(xn)
        if pn[2] <= 0:
            misses = misses + 1 if lo is None else 0
            hi = pn
        else:
            misses = misses + 1 if hi is None else 0
            lo = pn
    if lo is None or hi is None:  # unreachable: the loop above ends with both set
        raise _OutOfReachError
    stalls = 0
    while hi[0] - lo[0] > tl * (1.0 + 1e-9):  # (slack for rounding in log/exp)
        (a, _, ga), (b, _, gb) = lo, hi
        width = b - a
        if math.isfinite(ga) and math.isfinite(gb) and ga > gb:
            root = a + ga * width / (ga - gb)
            s = (gb - ga) / width
        else:
            root = a + width / 2
        if stalls >= 3 or width <= 2 * tl:
            x = a + width / 2  # bisect (one step ends the search once width <= 2 tol)
        elif root >= b - tl:
            x = b - tl  # the boundary looks within tol below hi: probe there
        elif root <= a + tl:
            x = a + tl  # the boundary looks within tol above lo: probe there
        else:
            x = root + tl / 2  # just past the estimated boundary, on the feasible side
        p = point(x)
        if p[2] <= 0:
            hi = p
        else:
            lo = p
        stalls = stalls + 1 if hi[0] - lo[0] > width / 2 else 0
    return _Found(sigma=hi[1], slope=s)
