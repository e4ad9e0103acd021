"""Hadamard response (HR), high-privacy scheme, and the fast Walsh–Hadamard transform.

Acharya, Sun, Zhang, "Hadamard Response: Estimating Distributions Privately, Efficiently,
and with Little Communication", AISTATS 2019 (arXiv:1802.04705): with ``K`` the smallest
power of two above d, value ``x`` owns row ``x + 1`` of the K×K Sylvester–Hadamard matrix
``H[r, y] = (-1)^popcount(r & y)`` (row 0, all ones, is skipped), and ``C_x`` is the set of
the K/2 columns where that row is +1. The user reports a codeword index ``y``: uniform in
``C_x`` with probability ``p = e^ε / (e^ε + 1)``, uniform outside it otherwise. This is the
paper's scheme for the high-privacy regime, the one pure-ldp runs for ε ≤ 1; privet uses it
for every ε (it is ε-LDP for all ε, though for ε > 1 its variance is well above OUE's).

**Privacy.** Every ``y`` has probability ``2p/K`` (in ``C_x``) or ``2(1-p)/K`` (outside), so
the ratio between any two inputs is at most ``p / (1 - p) = e^ε``.

**Variance (derived).** Two distinct rows of H (neither row 0) agree on exactly K/2 columns,
so ``|C_x ∩ C_v| = K/4`` for ``x ≠ v``: a user holding ``v ≠ x`` lands in ``C_x`` with
probability exactly 1/2. HR is thus a pure protocol with ``p* = p`` and ``q* = 1/2``
(Wang et al. 2017, Section 3), and Theorem 2 there gives
``Var[ĉ_x] = n/(2p - 1)² - n_x = n·((e^ε + 1)/(e^ε - 1))² - n_x``: Wang et al.'s OUE variance
plus n (``Var* = n((e^ε+1)/(e^ε-1))²``, the figure the W4 benchmark's peer uses).

**Client.** Draw ``u`` uniform in ``[0, K)``; ``u`` and ``u XOR b`` (``b`` the top bit of
``x + 1``) lie on opposite sides of ``C_x``, so flipping ``b`` when a Bernoulli(p) coin
disagrees with "``u ∈ C_x``" gives exactly the law above.

**Server.** The support of ``x`` is the number of reports in ``C_x``:
``S_x = (n + W[x + 1]) / 2`` with ``W`` the Walsh–Hadamard transform of the histogram of the
reports: O(n + K log K) time (:func:`fwht`).

**Report format.** One integer per user in ``[0, K)``, K = 2^ceil(log2(d + 1)): a 1-D array
of the smallest unsigned dtype that holds it. ``log2 K`` bits.

Examples
--------
>>> import numpy as np
>>> from privet.core import SecureRandom
>>> hr = HadamardResponse(epsilon=1.0, domain_size=16)
>>> hr.codewords
32
>>> reports = hr.privatize(np.arange(16), rng=SecureRandom.seeded(2))
>>> int(reports.max()) < 32
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.ldp.oracles import FrequencyOracle, check_codes, code_dtype

__all__ = ["HadamardResponse", "fwht"]


def fwht(values: NDArray[Any]) -> NDArray[np.int64]:
    """Return the unnormalised Walsh–Hadamard transform of an integer vector of length 2^m.

    ``out[x] = sum_u values[u]·(-1)^popcount(u & x)``, by m butterfly passes on whole
    arrays, in exact ``int64`` arithmetic.

    Parameters
    ----------
    values : numpy.ndarray
        1-D integers, length a power of two.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of the same length.

    Raises
    ------
    ParameterTypeError, ParameterError
        If ``values`` is not a 1-D integer array whose length is a power of two.

    Examples
    --------
    >>> import numpy as np
    >>> fwht(np.array([1, 0, 0, 0])).tolist()
    [1, 1, 1, 1]
    >>> fwht(np.array([0, 1, 0, 0])).tolist()
    [1, -1, 1, -1]
    """
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "iu":
        raise ParameterTypeError("fwht needs a 1-D numpy integer array")
    size = values.shape[0] if values.ndim == 1 else 0
    if size == 0 or size & (size - 1):
        raise ParameterError(
            f"fwht needs a 1-D array whose length is a power of two, got shape {values.shape}"
        )
    out = values.astype(np.int64)  # a copy
    h = 1
    while h < size:
        pairs = out.reshape(-1, 2, h)
        low = pairs[:, 0, :].copy()
        pairs[:, 0, :] += pairs[:, 1, :]
        np.subtract(low, pairs[:, 1, :], out=pairs[:, 1, :])
        h *= 2
    return out


def _parity(x: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Return True where ``x`` has an odd number of set bits."""
    out: NDArray[np.bool_] = (np.bitwise_count(x) & 1).astype(np.bool_)
    return out


class HadamardResponse(FrequencyOracle):
    """Hadamard response (Acharya, Sun, Zhang 2019), high-privacy scheme: log2 K-bit reports.

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).
    domain_size : int
        d (>= 2).

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core import SecureRandom
    >>> hr = HadamardResponse(epsilon=1.0, domain_size=4)
    >>> values = np.repeat([0, 1, 2, 3], [4000, 3000, 2000, 1000])
    >>> est = hr.estimate(hr.privatize(values, rng=SecureRandom.seeded(4)))
    >>> [round(c, -3) for c in est.counts.tolist()]
    [4000.0, 3000.0, 2000.0, 1000.0]
    >>> round(hr.variance(10_000))  # n ((e+1)/(e-1))²
    46827
    """

    mechanism: ClassVar[str] = "hadamard_response"

    def __init__(self, *, epsilon: float, domain_size: int) -> None:
        super().__init__(epsilon=epsilon, domain_size=domain_size)
        self._K = 1 << self._d.bit_length()  # the smallest power of two > d
        # P(report in C_x) = r/(r+1) with r <= e^ε (Acharya, Sun, Zhang 2019, HR).
        self._keep = self._e / (self._e + 1)
        self._dtype = code_dtype(self._K)

    @property
    def codewords(self) -> int:
        """K: the number of possible reports (the smallest power of two above d)."""
        return self._K

    @property
    def support_probabilities(self) -> tuple[float, float]:
        """``(p, 1/2)``: P(report in C_v | v), P(report in C_x | v ≠ x)."""
        return float(self._keep), 0.5

    @property
    def report_bits(self) -> int:
        """``log2 K``."""
        return self._K.bit_length() - 1

    def _randomize(self, values: NDArray[np.int64], rng: SecureRandom) -> NDArray[Any]:
        n = values.shape[0]
        row = values + 1
        u = rng.integers(n, low=0, high=self._K)
        inside = ~_parity(row & u)  # H[row, u] = +1 ⇔ u ∈ C_x
        want_inside = rng.bernoulli(n, p=self._keep)
        top_bit = np.left_shift(1, np.frexp(row.astype(np.float64))[1] - 1).astype(np.int64)
        out = np.where(inside != want_inside, u ^ top_bit, u)
        return out.astype(self._dtype)

    def _support(self, reports: Any) -> tuple[NDArray[np.int64], int]:
        codes = check_codes(reports, bound=self._K, oracle=repr(self))
        n = int(codes.shape[0])
        hist = np.bincount(codes.astype(np.intp, copy=False), minlength=self._K)
        w = fwht(hist)
        # Reports in C_x minus reports outside = W[x + 1]; they sum to n.
        support = (n + w[1 : self._d + 1]) // 2
        return support, n
