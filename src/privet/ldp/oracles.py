"""The frequency-oracle contract shared by GRR, SUE, OUE, OLH and Hadamard response.

A frequency oracle lets n users each hold one value in ``[0, d)`` and tell a server how
many users hold each value, without any user revealing theirs:

* the **client** ``privatize(values)`` randomizes each user's value into a *report*, on
  the user's side, with a :class:`~privet.core.SecureRandom`;
* the **server** ``aggregate(reports)`` turns reports into a :class:`Tally` (support
  counts, additive across chunks), and ``estimate(reports or tally)`` returns a
  :class:`FrequencyEstimate`: unbiased counts and their variance.

Every oracle here is a *pure* protocol (Wang, Blocki, Li, Jha, USENIX Security 2017,
arXiv:1705.04421, Section 3): a report *supports* a set of values, with
``P(report supports v | user holds v) = p*`` and ``P(report supports x | user holds v ≠ x)
= q*``, so one estimator and one variance formula serve all of them
(:class:`FrequencyEstimate`).

**Exact privacy.** The probabilities a client draws with are exact rational numbers, chosen so
that the likelihood ratio of any two inputs is at most ``e^ε`` *exactly*: ``e^ε`` is replaced by
a rational ``r <= e^ε`` (:func:`exp_below`), and thresholds are rounded in the safe direction.
The mechanism run is therefore ε'-LDP with ε' ≤ ε (ε - ε' < 1e-12, and < 1e-5 for unary
encoding at ε ≤ 10, whose bits use a 2^-32 grid); the event charged says ε.
``tests/ldp/test_exact_privacy.py`` enumerates every output of every client for small d and
checks the ratio.

**Accounting (LDP).** Each oracle has an :attr:`~FrequencyOracle.event`, and
``privatize(values, budget=b)`` charges it to ``b`` *before* any randomness is drawn. One
budget stands for one client population: a call privatizes each listed user's value once, so
it is one charge of ε per user (the users' reports are independent, and each user's own
guarantee is ε). A user who reports again in a later collection spends again: repeated
collections of the same user compose, and each one is a separate charge.

Examples
--------
>>> from privet.core import SecureRandom
>>> from privet.ldp import OUE
>>> oracle = OUE(epsilon=1.0, domain_size=4)
>>> reports = oracle.privatize([0, 1, 1, 3], rng=SecureRandom.seeded(0))
>>> reports.shape, reports.dtype.name  # one packed byte per user (4 bits used)
((4, 1), 'uint8')
>>> oracle.estimate(reports).counts.shape
(4,)
"""

from __future__ import annotations

import abc
import math
from fractions import Fraction
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.events import LocalRandomizerEvent, PrivacyEvent
from privet.core.checks import check_epsilon, check_int
from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.estimates import FrequencyEstimate, Tally

__all__ = [
    "MAX_DOMAIN_SIZE",
    "MAX_LOCAL_EPSILON",
    "Chargeable",
    "FrequencyOracle",
    "bernoulli_dyadic",
    "check_codes",
    "check_values",
    "code_dtype",
    "exp_below",
    "perturb_categorical",
]

MAX_DOMAIN_SIZE: Final = 1 << 24
"""The largest domain size d accepted (values are coded 0..d-1). A server holds arrays of
length d (up to 2d for OLH and Hadamard response); split or hash larger domains first."""

MAX_LOCAL_EPSILON: Final = 50.0
"""The largest local ε accepted: beyond it a report is essentially the raw value."""


def charge_first(budget: object, event: PrivacyEvent, *, label: str) -> None:
    """Charge ``event`` to ``budget`` (if any) before anything random is drawn.

    ``budget`` must be None or :class:`~privet.accounting.chargeable.Chargeable` (a
    ``privet.store`` Budget); a refusal (``BudgetExceededError``) propagates, so nothing is
    randomized.
    """
    if budget is not None and not isinstance(budget, Chargeable):
        raise ParameterTypeError(
            f"budget must have a charge(event, label=...) method (a privet.store "
            f"Budget), got {type(budget).__name__}"
        )
    charge_budget(budget, event, label=label)


def check_local_epsilon(epsilon: object) -> float:
    """Return a local ε in ``(0, MAX_LOCAL_EPSILON]``."""
    eps = check_epsilon(epsilon)
    if eps > MAX_LOCAL_EPSILON:
        raise ParameterError(
            f"epsilon must be <= {MAX_LOCAL_EPSILON:g} for a local randomizer, got {eps!r}; "
            "at such an ε a report reveals the value, so collect it without LDP or lower ε"
        )
    return eps


def check_domain_size(domain_size: object) -> int:
    """Return a domain size d in ``[2, MAX_DOMAIN_SIZE]``."""
    d = check_int(domain_size, name="domain_size")
    if d < 2 or d > MAX_DOMAIN_SIZE:
        raise ParameterError(
            f"domain_size must be an integer in [2, 2**24], got {d}; a domain of one value "
            "needs no estimate, and larger domains should be hashed or split first"
        )
    return d


def exp_below(x: float) -> Fraction:
    """Return an exact rational ``r`` with ``r <= e^x``, within 5e-16 relative of it.

    ``math.exp`` is within one ulp of ``e^x``; two steps down (``math.nextafter``) make the
    float a lower bound, and :class:`~fractions.Fraction` keeps it exact. Privacy ratios built
    on ``r`` are then at most ``e^x`` in exact arithmetic.

    Parameters
    ----------
    x : float
        The exponent (finite, at most ~709).

    Returns
    -------
    Fraction
        The lower bound.

    Examples
    --------
    >>> import math
    >>> r = exp_below(1.0)
    >>> r < math.e and float(r) == math.nextafter(math.nextafter(math.exp(1.0), 0), 0)
    True
    """
    return Fraction(math.nextafter(math.nextafter(math.exp(x), 0.0), 0.0))


def check_values(values: object, *, domain_size: int, name: str = "values") -> NDArray[np.int64]:
    """Return ``values`` as a 1-D ``int64`` array of codes in ``[0, domain_size)``.

    Parameters
    ----------
    values : array_like of int
        One value per user: a non-empty 1-D integer array (or list).
    domain_size : int
        d.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    numpy.ndarray
        The values as ``int64`` (no copy when they already are).

    Raises
    ------
    ParameterTypeError
        If the values are not integers (floats, booleans, strings …).
    ParameterError
        If they are not a non-empty 1-D array.
    DataError
        If some lie outside ``[0, d)`` (the message gives how many and the first index,
        never a value).

    Examples
    --------
    >>> check_values([0, 2, 1], domain_size=3).tolist()
    [0, 2, 1]
    """
    if isinstance(values, list | tuple):
        values = np.asarray(values)
    if not isinstance(values, np.ndarray):
        raise ParameterTypeError(
            f"{name} must be a 1-D numpy integer array (or a list of ints), got "
            f"{type(values).__name__}"
        )
    if values.ndim != 1:
        raise ParameterError(
            f"{name} must be 1-D (one value per user), got shape {values.shape}; "
            "pass values.ravel() if each row is one user"
        )
    if values.size == 0:
        raise ParameterError(f"{name} is empty; pass at least one user's value")
    if values.dtype == np.bool_ or values.dtype.kind not in "iu":
        raise ParameterTypeError(
            f"{name} must hold integer codes in [0, {domain_size}), got dtype {values.dtype}; "
            f"map each category to an integer 0..{domain_size - 1} first"
            + (" (for yes/no answers use RandomizedResponse)" if values.dtype == np.bool_ else "")
        )
    bad = values >= domain_size
    if values.dtype.kind == "i":
        bad |= values < 0
    count = int(np.count_nonzero(bad))
    if count:
        first = int(np.argmax(bad))
        raise DataError(
            f"{count} of {values.size} {name} lie outside [0, {domain_size}) (the first at "
            f"index {first}); map each category to an integer code 0..{domain_size - 1} first"
        )
    return values.astype(np.int64, copy=False)


def check_codes(reports: object, *, bound: int, oracle: str) -> NDArray[Any]:
    """Return integer reports as a 1-D array, checking that each lies in ``[0, bound)``.

    Parameters
    ----------
    reports : numpy.ndarray
        Integer reports (any integer dtype), 1-D.
    bound : int
        One past the largest valid report.
    oracle : str
        The oracle's description, for error messages.

    Returns
    -------
    numpy.ndarray
        The reports (not copied).

    Raises
    ------
    ParameterTypeError, ParameterError, DataError
        If the reports are not a 1-D integer array or lie outside the range.
    """
    if isinstance(reports, list | tuple):
        reports = np.asarray(reports)
    if not isinstance(reports, np.ndarray):
        raise ParameterTypeError(
            f"reports must be the numpy array {oracle}.privatize returned, got "
            f"{type(reports).__name__}"
        )
    if reports.dtype == np.bool_ or reports.dtype.kind not in "iu":
        raise ParameterTypeError(
            f"reports of {oracle} are integers, got dtype {reports.dtype}; pass the array "
            "privatize returned"
        )
    if reports.ndim != 1:
        raise ParameterError(
            f"reports of {oracle} are 1-D (one per user), got shape {reports.shape}"
        )
    bad = reports >= bound
    if reports.dtype.kind == "i":
        bad |= reports < 0
    count = int(np.count_nonzero(bad))
    if count:
        raise DataError(
            f"{count} of {reports.size} reports lie outside [0, {bound}) (the first at index "
            f"{int(np.argmax(bad))}): they were not made by {oracle}; check ε and d match"
        )
    return reports


def code_dtype(bound: int) -> np.dtype[Any]:
    """Return the smallest unsigned dtype that holds the integers ``0..bound-1``.

    Examples
    --------
    >>> code_dtype(256).name, code_dtype(257).name, code_dtype(1 << 32).name
    ('uint8', 'uint16', 'uint32')
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if bound - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def perturb_categorical(
    values: NDArray[np.int64], *, k: int, keep: Fraction, rng: SecureRandom
) -> NDArray[np.int64]:
    """Randomize k-ary values: keep each with probability ``keep``, else pick another one.

    The replacement is uniform over the other ``k - 1`` values (k-ary randomized response).

    With ``keep = r / (r + k - 1)`` the ratio ``P(y | v) / P(y | v')`` is at most ``r``
    (Kairouz, Oh, Viswanath, "Extremal mechanisms for local differential privacy", NeurIPS
    2014; Wang et al. 2017, Section 4, "Direct Encoding"). Both draws are exact: a
    Bernoulli of the rational ``keep`` and a uniform integer by rejection.

    Parameters
    ----------
    values : numpy.ndarray
        ``int64`` codes in ``[0, k)``.
    k : int
        The number of categories (>= 2).
    keep : Fraction
        The probability of reporting the true value.
    rng : SecureRandom
        The generator.

    Returns
    -------
    numpy.ndarray
        ``int64`` reports in ``[0, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fractions import Fraction
    >>> from privet.core import SecureRandom
    >>> v = np.zeros(5, dtype=np.int64)
    >>> perturb_categorical(v, k=3, keep=Fraction(1), rng=SecureRandom.seeded(1)).tolist()
    [0, 0, 0, 0, 0]
    """
    n = values.shape[0]
    kept = rng.bernoulli(n, p=keep)
    other = rng.integers(n, low=0, high=k - 1)
    other += other >= values  # skip the true value: uniform over the k - 1 others
    out: NDArray[np.int64] = np.where(kept, values, other)
    return out


def bernoulli_dyadic(
    rng: SecureRandom, shape: int | tuple[int, ...], *, threshold: int, nbytes: int
) -> NDArray[np.bool_]:
    """Exact Bernoulli(``threshold / 256**nbytes``) draws, about one random byte each.

    A uniform ``U`` in ``[0, 256**nbytes)`` is compared with ``threshold`` byte by byte,
    most significant first: the first byte decides unless it ties with the threshold's
    (probability 1/256), and only tied positions draw another byte. ``U < threshold``
    has probability exactly ``threshold / 256**nbytes``.

    Parameters
    ----------
    rng : SecureRandom
        The generator.
    shape : int or tuple of int
        The output shape.
    threshold : int
        In ``[0, 256**nbytes]``.
    nbytes : int
        The precision, in bytes (>= 1).

    Returns
    -------
    numpy.ndarray
        ``bool`` array of ``shape``.

    Examples
    --------
    >>> from privet.core import SecureRandom
    >>> b = bernoulli_dyadic(SecureRandom.seeded(2), 100_000, threshold=1 << 15, nbytes=2)
    >>> bool(0.49 < b.mean() < 0.51)
    True
    """
    full = 256**nbytes
    if threshold >= full:
        return np.ones(shape, dtype=np.bool_)
    digits = threshold.to_bytes(nbytes, "big")
    u = np.empty(shape, dtype=np.uint8)
    rng.fill(u)
    out = u < digits[0]
    flat_out = out.reshape(-1)
    ties = np.flatnonzero(u.reshape(-1) == digits[0])
    for level in range(1, nbytes):
        if ties.size == 0:
            break
        b = np.empty(ties.size, dtype=np.uint8)
        rng.fill(b)
        flat_out[ties] = b < digits[level]
        ties = ties[b == digits[level]]
    # Positions still tied after every byte have U == threshold: not below it (False).
    return out


class FrequencyOracle(abc.ABC):
    """Base class of the frequency oracles: ``privatize`` → ``aggregate`` → ``estimate``.

    Subclasses set :attr:`mechanism`, implement :meth:`_randomize` (the client, vectorised
    on a :class:`~privet.core.SecureRandom`), :meth:`_support` (the server's support counts
    of validated reports) and :attr:`support_probabilities` (p*, q*); the estimator, its
    variance, validation and budget charging are shared.

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0, at most 50).
    domain_size : int
        d, the number of values (>= 2); values are the integers ``0..d-1``.
    """

    mechanism: ClassVar[str] = ""

    def __init__(self, *, epsilon: float, domain_size: int) -> None:
        self._epsilon = check_local_epsilon(epsilon)
        self._d = check_domain_size(domain_size)
        self._e = exp_below(self._epsilon)

    # -- description -----------------------------------------------------------------------

    @property
    def epsilon(self) -> float:
        """ε: every report is ε-LDP."""
        return self._epsilon

    @property
    def domain_size(self) -> int:
        """d: values are the integers ``0..d-1``."""
        return self._d

    @property
    def event(self) -> PrivacyEvent:
        """The privacy event one collection charges: ``LocalRandomizerEvent``."""
        return LocalRandomizerEvent(mechanism=self.mechanism, epsilon=self._epsilon)

    @property
    @abc.abstractmethod
    def support_probabilities(self) -> tuple[float, float]:
        """``(p*, q*)``: P(a report supports the sender's value), P(it supports another)."""

    @property
    @abc.abstractmethod
    def report_bits(self) -> int:
        """The size of one report, in bits (its communication cost)."""

    def variance(self, n: int) -> float:
        """Return Wang et al.'s approximate count variance ``n·q*(1-q*)/(p*-q*)²``.

        It is the exact variance of the count of a value no user holds (Wang et al. 2017,
        Section 3, Theorem 2 with ``n_x = 0``), the figure oracles are compared by.

        Parameters
        ----------
        n : int
            The number of reports (>= 0).

        Returns
        -------
        float
            The variance of one estimated count.
        """
        count = check_int(n, name="n")
        p, q = self.support_probabilities
        return count * q * (1.0 - q) / (p - q) ** 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self._epsilon:g}, domain_size={self._d})"

    # -- client ----------------------------------------------------------------------------

    def privatize(
        self,
        values: Any,
        *,
        rng: SecureRandom | None = None,
        budget: Chargeable | None = None,
        label: str = "",
    ) -> Any:
        """Randomize each user's value into an ε-LDP report (the client side).

        Parameters
        ----------
        values : array_like of int
            One value per user, each in ``[0, d)``; 1-D.
        rng : SecureRandom, optional
            The generator; ``None`` draws a fresh OS-keyed one (use a seeded one in tests
            only).
        budget : Chargeable, optional
            A ledger budget: :attr:`event` is charged to it *before* anything random is
            drawn; if it refuses (:class:`~privet.errors.BudgetExceededError`), nothing is
            randomized and no report exists.
        label : str
            The label of the charge.

        Returns
        -------
        object
            The reports, in the oracle's documented format.
        """
        v = check_values(values, domain_size=self._d)
        gen = resolve_rng(rng)
        if budget is not None:  # before anything random is drawn
            charge_first(
                budget, self.event, label=label or f"ldp {self.mechanism}: {v.size} reports"
            )
        return self._randomize(v, gen)

    @abc.abstractmethod
    def _randomize(self, values: NDArray[np.int64], rng: SecureRandom) -> Any:
        """Return the reports of validated values."""

    # -- server ----------------------------------------------------------------------------

    def aggregate(self, reports: Any) -> Tally:
        """Count how many reports support each value (the server's sufficient statistic).

        Parameters
        ----------
        reports : object
            Reports made by :meth:`privatize` of an oracle with the same ε and d.

        Returns
        -------
        Tally
            Support counts and the number of reports; tallies of chunks add with ``+``.
        """
        support, n = self._support(reports)
        return Tally(self.mechanism, self._epsilon, self._d, support, n)

    @abc.abstractmethod
    def _support(self, reports: Any) -> tuple[NDArray[np.int64], int]:
        """Validate ``reports``; return the support counts (length d) and their number."""

    def estimate(self, reports: Any) -> FrequencyEstimate:
        """Estimate how many users hold each value, without bias.

        Parameters
        ----------
        reports : object or Tally
            Reports from :meth:`privatize`, or a :class:`Tally` from :meth:`aggregate`
            (summed over chunks).

        Returns
        -------
        FrequencyEstimate
            ``counts`` (length d), ``variance`` (Var*), per-value ``item_variance``.
        """
        tally = reports if isinstance(reports, Tally) else self.aggregate(reports)
        if (tally.mechanism, tally.epsilon, tally.domain_size) != (
            self.mechanism,
            self._epsilon,
            self._d,
        ):
            raise ParameterError(
                f"this tally is of {tally.mechanism} (ε={tally.epsilon:g}, "
                f"d={tally.domain_size}), not of {self!r}; estimate it with the oracle that "
                "made the reports"
            )
        n = tally.n
        if n < 1:
            raise DataError("no reports to estimate from; collect at least one report")
        p, q = self.support_probabilities
        gap = p - q
        # Wang et al. 2017, Section 3, Theorem 2: the unbiased estimator of a pure protocol.
        counts = (tally.support.astype(np.float64) - n * q) / gap
        var_star = n * q * (1.0 - q) / gap**2
        # Same theorem, exact variance: n_x·p*(1-p*) + (n - n_x)·q*(1-q*), over (p* - q*)²,
        # with n_x estimated (clipped to [0, n], so the variance stays non-negative).
        n_x = np.clip(counts, 0.0, float(n))
        item = (n_x * (p * (1.0 - p)) + (n - n_x) * (q * (1.0 - q))) / gap**2
        return FrequencyEstimate(
            counts=counts,
            variance=var_star,
            item_variance=item,
            n=n,
            mechanism=self.mechanism,
            epsilon=self._epsilon,
            p_star=p,
            q_star=q,
        )
