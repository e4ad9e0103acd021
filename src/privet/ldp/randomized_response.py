"""Randomized response for a yes/no question: the seed's coin flips, and binary RR for any ε.

**The coin-flip scheme** (Warner 1965; Dwork & Roth 2014, "The Algorithmic Foundations of
Differential Privacy", Section 3.2): flip a coin; on heads answer truthfully; on tails flip
again and answer "yes" on heads, "no" on tails. The answer is truthful with probability
1/2 + 1/4 = 3/4, so ``P(yes | yes) / P(yes | no) = (3/4) / (1/4) = 3``: it is (ln 3, 0)-DP
(Dwork & Roth 2014, Claim 3.5).

**Binary randomized response** for any ε: answer truthfully with probability
``p = e^ε / (e^ε + 1)``, lie otherwise; ``p / (1 - p) = e^ε`` (Warner 1965's design with
Warner's p; its ε-LDP is the same one-line ratio). The coin-flip scheme is the case
ε = ln 3, p = 3/4.

**Estimating the proportion π of true "yes".** The expected share of "yes" reports is
``λ = (1 - p) + (2p - 1)·π``, so ``π̂ = (ŷ - (1 - p)) / (2p - 1)`` is unbiased (Warner,
"Randomized response: a survey technique for eliminating evasive answer bias", JASA 60(309),
1965, the maximum-likelihood estimate); for the coin-flip scheme ``π̂ = 2ŷ - 1/2``. Its
variance is ``λ(1 - λ) / (n (2p - 1)²)`` = ``π(1-π)/n + p(1-p)/(n(2p-1)²)`` (Warner 1965),
estimated without bias by ``ŷ(1 - ŷ) / ((n - 1)(2p - 1)²)``; the confidence interval is the
normal one, ``π̂ ± z·sd``, clipped to [0, 1].

Examples
--------
>>> rr = RandomizedResponse.coin_flips()
>>> rr.truth_probability
0.75
>>> import numpy as np
>>> est = rr.estimate(np.array([True] * 60 + [False] * 40))  # ŷ = 0.6
>>> est.proportion  # 2·0.6 - 1/2
0.7
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from privet.accounting.events import PrivacyEvent, RandomizedResponseEvent
from privet.core.checks import check_probability
from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.oracles import Chargeable, charge_first, check_local_epsilon, exp_below

__all__ = ["ProportionEstimate", "RandomizedResponse"]


@dataclasses.dataclass(frozen=True)
class ProportionEstimate:
    """The estimated share of true "yes" answers behind n randomized reports.

    Attributes
    ----------
    proportion : float
        π̂, unbiased (it can fall outside [0, 1] by chance).
    variance : float
        The estimated variance of π̂, ``ŷ(1-ŷ) / ((n-1)(2p-1)²)`` (0 when n = 1).
    n : int
        The number of reports.
    yes : int
        The number of "yes" reports.
    truth_probability : float
        p, the probability that a report is truthful.

    Examples
    --------
    >>> est = ProportionEstimate(proportion=0.7, variance=0.0001, n=1000, yes=600,
    ...                          truth_probability=0.75)
    >>> lo, hi = est.confidence_interval(0.95)
    >>> round(lo, 4), round(hi, 4)
    (0.6804, 0.7196)
    """

    proportion: float
    variance: float
    n: int
    yes: int
    truth_probability: float

    @property
    def count(self) -> float:
        """``π̂ · n``: the estimated number of true "yes"."""
        return self.proportion * self.n

    @property
    def std(self) -> float:
        """The standard deviation of π̂."""
        return math.sqrt(self.variance)

    def confidence_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Return the normal interval ``π̂ ± z·std`` at ``level``, clipped to [0, 1].

        Parameters
        ----------
        level : float
            The coverage, in (0, 1).

        Returns
        -------
        tuple of float
            ``(low, high)``.
        """
        lvl = check_probability(level, name="level", allow_zero=False, allow_one=False)
        half = statistics.NormalDist().inv_cdf(0.5 + lvl / 2.0) * self.std
        return max(0.0, self.proportion - half), min(1.0, self.proportion + half)


class RandomizedResponse:
    """Binary randomized response: each yes/no answer is reported truthfully w.p. e^ε/(e^ε+1).

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core import SecureRandom
    >>> rr = RandomizedResponse(epsilon=1.0)
    >>> answers = np.arange(20_000) < 6_000  # 30 % say yes
    >>> est = rr.estimate(rr.privatize(answers, rng=SecureRandom.seeded(8)))
    >>> round(est.proportion, 2)
    0.3
    >>> rr.event
    RandomizedResponseEvent(epsilon=1.0, num_buckets=2)
    """

    mechanism: ClassVar[str] = "randomized_response"

    def __init__(self, *, epsilon: float) -> None:
        self._epsilon = check_local_epsilon(epsilon)
        r = exp_below(self._epsilon)
        self._truth: Fraction = r / (r + 1)  # p/(1-p) = r <= e^ε (Warner 1965)
        self._coins = False

    @classmethod
    def coin_flips(cls) -> RandomizedResponse:
        """Return the seed's scheme: two fair coins, truthful with probability 3/4, ε = ln 3.

        Returns
        -------
        RandomizedResponse
            Its :meth:`privatize` really flips the two coins; ``epsilon == log(3)``.

        Examples
        --------
        >>> import math
        >>> rr = RandomizedResponse.coin_flips()
        >>> rr.epsilon == math.log(3)
        True
        """
        rr = cls(epsilon=math.log(3.0))
        rr._truth = Fraction(3, 4)  # Dwork & Roth 2014, Claim 3.5: (3/4)/(1/4) = 3
        rr._coins = True
        return rr

    @property
    def epsilon(self) -> float:
        """ε (ln 3 for the coin-flip scheme)."""
        return self._epsilon

    @property
    def truth_probability(self) -> float:
        """p: the probability that a report equals the true answer."""
        return float(self._truth)

    @property
    def event(self) -> PrivacyEvent:
        """``RandomizedResponseEvent(epsilon, num_buckets=2)``."""
        return RandomizedResponseEvent(epsilon=self._epsilon, num_buckets=2)

    def __repr__(self) -> str:
        if self._coins:
            return "RandomizedResponse.coin_flips()"
        return f"RandomizedResponse(epsilon={self._epsilon:g})"

    def privatize(
        self,
        answers: Any,
        *,
        rng: SecureRandom | None = None,
        budget: Chargeable | None = None,
        label: str = "",
    ) -> NDArray[np.bool_]:
        """Randomize each yes/no answer (the respondent's side).

        Parameters
        ----------
        answers : array_like of bool or 0/1
            One answer per respondent (True/1 = yes); 1-D.
        rng : SecureRandom, optional
            The generator; ``None`` draws a fresh OS-keyed one.
        budget : Chargeable, optional
            A ledger budget, charged :attr:`event` before anything random is drawn.
        label : str
            The label of the charge.

        Returns
        -------
        numpy.ndarray
            ``bool`` reports (True = "yes").
        """
        truth = _check_answers(answers)
        gen = resolve_rng(rng)
        if budget is not None:  # before anything random is drawn
            charge_first(budget, self.event, label=label or f"ldp {self!r}: {truth.size} reports")
        n = truth.shape[0]
        if self._coins:
            heads = gen.bits(n).astype(np.bool_)  # first coin: heads → answer truthfully
            second = gen.bits(n).astype(np.bool_)  # second coin: heads → "yes"
            out: NDArray[np.bool_] = np.where(heads, truth, second)
            return out
        honest = gen.bernoulli(n, p=self._truth)
        reports: NDArray[np.bool_] = truth == honest  # truthful where honest, else the opposite
        return reports

    def estimate(self, reports: Any) -> ProportionEstimate:
        """Estimate the share of true "yes" answers: ``π̂ = (ŷ - (1-p)) / (2p - 1)``.

        Parameters
        ----------
        reports : array_like of bool or 0/1
            The reports from :meth:`privatize`.

        Returns
        -------
        ProportionEstimate
            π̂, its estimated variance and confidence interval.
        """
        yes_mask = _check_answers(reports, name="reports")
        n = int(yes_mask.shape[0])
        yes = int(np.count_nonzero(yes_mask))
        p = self._truth
        y_hat = Fraction(yes, n)
        # Warner 1965: E[ŷ] = (1-p) + (2p-1)π, so π̂ = (ŷ - (1-p))/(2p-1) is unbiased.
        pi_hat = (y_hat - (1 - p)) / (2 * p - 1)
        # Var(π̂) = λ(1-λ)/(n(2p-1)²); ŷ(1-ŷ)/(n-1) estimates λ(1-λ)/n without bias.
        var = (y_hat * (1 - y_hat) / ((n - 1) * (2 * p - 1) ** 2)) if n > 1 else Fraction(0)
        return ProportionEstimate(
            proportion=float(pi_hat),
            variance=float(var),
            n=n,
            yes=yes,
            truth_probability=float(p),
        )


def _check_answers(answers: Any, *, name: str = "answers") -> NDArray[np.bool_]:
    if isinstance(answers, list | tuple):
        answers = np.asarray(answers)
    if not isinstance(answers, np.ndarray):
        raise ParameterTypeError(
            f"{name} must be a 1-D numpy array of bool (or 0/1), got {type(answers).__name__}"
        )
    if answers.ndim != 1:
        raise ParameterError(f"{name} must be 1-D (one per respondent), got shape {answers.shape}")
    if answers.size == 0:
        raise ParameterError(f"{name} is empty; pass at least one")
    if answers.dtype == np.bool_:
        return answers
    if answers.dtype.kind not in "iu":
        raise ParameterTypeError(
            f"{name} must be bool or 0/1 integers, got dtype {answers.dtype}; "
            "pass answers == 'yes' or similar"
        )
    bad = (answers != 0) & (answers != 1)
    count = int(np.count_nonzero(bad))
    if count:
        raise DataError(
            f"{count} of {answers.size} {name} are neither 0 nor 1 (the first at index "
            f"{int(np.argmax(bad))}); pass booleans (True = yes)"
        )
    out: NDArray[np.bool_] = answers.astype(np.bool_)
    return out
