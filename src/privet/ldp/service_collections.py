"""What an LDP collection accepts, stores and estimates: one adapter per mechanism.

A :class:`Collection` is the server's and the client's shared view of one mechanism and its
parameters (its :meth:`~Collection.config` is what ``GET /config`` serves). It turns a
client's values into wire reports (:meth:`~Collection.wire`, randomized on the client),
validates one received report (:meth:`~Collection.parse`: a :class:`Row` or a
:class:`Rejection` with a reason code, never an exception), and estimates from the stored
rows (:meth:`~Collection.estimate`).

Wire format: every report is a JSON object with ``client`` (an id, 1–256 characters) and
``round`` (an open collection round), plus the mechanism's fields:

=================  ==============================================================
mechanism          fields
=================  ==============================================================
``rappor``         ``cohort`` (int in [0, m)), ``bits`` (k ints, each 0 or 1)
``grr``            ``value`` (int in [0, d))
``sue``, ``oue``   ``bits`` (d ints, each 0 or 1)
``olh``            ``seeds`` (the user's hash key: k ints), ``value`` (int in [0, g))
``hr``             ``value`` (int: the reported index)
=================  ==============================================================

Rejection reasons (counted by the service, served at ``/stats``): see :data:`REASONS`.

Examples
--------
>>> from privet.ldp.rappor import Rappor
>>> c = RapporCollection(Rappor(num_bloombits=4, num_hashes=1, num_cohorts=2,
...                              f=0.5, p=0.25, q=0.75))
>>> c.parse({"cohort": 1, "bits": [0, 1, 1, 0]})
Row(cohort=1, value=None, seeds=None, bits=b'`')
>>> c.parse({"cohort": 2, "bits": [0, 1, 1, 0]}).reason
'wrong_cohort'
>>> c.parse({"cohort": 1, "bits": [0, 1, 2, 0]}).reason
'non_binary'
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.accounting.events import PrivacyEvent
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.ldp.rappor import Rappor, RapporReports
from privet.ldp.rappor_decode import RapporCounts, decode_rappor
from privet.ldp.rappor_memo import PrrMemo

if TYPE_CHECKING:
    from privet.store import Budget

__all__ = [
    "REASONS",
    "Collection",
    "EstimateTable",
    "RapporCollection",
    "Rejection",
    "Row",
    "StoredRows",
    "collection_from_config",
]

REASONS: Final = (
    "malformed_json",  # not UTF-8 JSON, or NaN/Infinity, or nested too deep
    "body_too_large",  # Content-Length above the service's limit
    "missing_length",  # no (or a bad) Content-Length, or a chunked body
    "bad_envelope",  # not an object / no "reports" list / too many reports in one batch
    "missing_field",  # a required field is absent
    "unknown_field",  # a field the mechanism does not define
    "bad_field",  # a field of the wrong type
    "bad_client",  # client id not a string of 1-256 characters
    "unknown_round",  # round not open
    "wrong_length",  # bits of the wrong length
    "wrong_cohort",  # cohort outside [0, m)
    "non_binary",  # a bit that is not 0 or 1
    "out_of_range",  # a value outside its domain
    "duplicate",  # the same client reported twice in one round
    "unknown_endpoint",  # a path or method the service does not serve
    "internal_error",  # a bug: the service answered 500 and kept running
)
"""Every reason a report can be rejected for."""

_COMMON: Final = frozenset({"client", "round"})


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Why a report was refused: a reason code from :data:`REASONS` and a message."""

    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Row:
    """One validated report's mechanism fields, as stored (bits packed with numpy)."""

    cohort: int | None = None
    value: int | None = None
    seeds: tuple[int, ...] | None = None
    bits: bytes | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class StoredRows:
    """Stored reports of a round as arrays (``-1`` where a field is absent).

    ``seeds`` has shape ``(n, s)`` (``s = 0`` unless reports carry seeds); ``bits`` has
    shape ``(n, width)``.
    """

    cohort: NDArray[np.int64]
    value: NDArray[np.int64]
    seeds: NDArray[np.int64]
    bits: NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.cohort.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class EstimateTable:
    """Estimated counts with standard errors and confidence intervals, one row per label."""

    mechanism: str
    labels: tuple[str, ...]
    estimates: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    num_reports: int
    confidence: float
    detected: NDArray[np.bool_] | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per label, in label order."""
        out = []
        for i, label in enumerate(self.labels):
            row: dict[str, Any] = {
                "label": label,
                "estimate": float(self.estimates[i]),
                "std_error": float(self.std_errors[i]),
                "ci_low": float(self.ci_low[i]),
                "ci_high": float(self.ci_high[i]),
            }
            if self.detected is not None:
                row["detected"] = bool(self.detected[i])
            out.append(row)
        return out


def _int_field(item: Mapping[str, Any], name: str) -> int | Rejection:
    if name not in item:
        return Rejection("missing_field", f"the report lacks {name!r}")
    v = item[name]
    if isinstance(v, bool) or not isinstance(v, int):
        return Rejection("bad_field", f"{name!r} must be an integer, got {type(v).__name__}")
    return v


def _bits_field(item: Mapping[str, Any], width: int) -> bytes | Rejection:
    if "bits" not in item:
        return Rejection("missing_field", "the report lacks 'bits'")
    bits = item["bits"]
    if not isinstance(bits, list):
        return Rejection("bad_field", f"'bits' must be a list of 0/1, got {type(bits).__name__}")
    if len(bits) != width:
        return Rejection("wrong_length", f"'bits' must hold {width} bits, got {len(bits)}")
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, int) or b not in (0, 1):
            return Rejection("non_binary", "every bit must be the integer 0 or 1")
    return np.packbits(np.array(bits, dtype=np.uint8)).tobytes()


def _unknown(item: Mapping[str, Any], fields: frozenset[str]) -> Rejection | None:
    extra = set(item) - fields - _COMMON
    if extra:
        names = ", ".join(sorted(repr(str(e)[:32]) for e in extra)[:5])
        return Rejection("unknown_field", f"unknown field(s) {names}; allowed: {sorted(fields)}")
    return None


class Collection(abc.ABC):
    """One mechanism with its parameters, as a collection service runs it."""

    @property
    def name(self) -> str:
        """The mechanism's name (``config()["mechanism"]``)."""
        return str(self.config()["mechanism"])

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Return the public, JSON-ready parameters (``mechanism`` plus its own)."""

    @property
    @abc.abstractmethod
    def event(self) -> PrivacyEvent:
        """The event charged to the population's budget for each collection round."""

    @property
    @abc.abstractmethod
    def width(self) -> int:
        """The number of bits a report carries (0 for reports without bits)."""

    @abc.abstractmethod
    def parse(self, item: Mapping[str, Any]) -> Row | Rejection:
        """Validate one report's mechanism fields (``client``/``round`` checked elsewhere)."""

    @abc.abstractmethod
    def wire(
        self,
        values: Sequence[Any],
        *,
        clients: Sequence[str],
        memo: PrrMemo | None = None,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> list[dict[str, Any]]:
        """Randomize ``values`` on the client and return one wire report (fields) each."""

    @abc.abstractmethod
    def estimate(
        self, rows: StoredRows, *, candidates: Sequence[str] | None = None, confidence: float
    ) -> EstimateTable:
        """Estimate from stored reports."""


class RapporCollection(Collection):
    """A RAPPOR collection; estimates need a dictionary of candidate strings.

    The per-round event is ``rappor.event`` (ε∞): the server cannot see whether a client's
    value changed since the last round, so it charges the bound of one memoised value per
    round (a client whose value never changes stays within ε∞ in all, Theorem 1).
    """

    def __init__(self, rappor: Rappor) -> None:
        if not isinstance(rappor, Rappor):
            raise ParameterTypeError(f"rappor must be a Rappor, got {type(rappor).__name__}")
        self.rappor = rappor

    def config(self) -> dict[str, Any]:
        """Return the RAPPOR parameters (:meth:`Rappor.to_dict`)."""
        return self.rappor.to_dict()

    @property
    def event(self) -> PrivacyEvent:
        """``rappor.event``: ε∞ per round."""
        return self.rappor.event

    @property
    def width(self) -> int:
        """``k``."""
        return self.rappor.num_bloombits

    def parse(self, item: Mapping[str, Any]) -> Row | Rejection:
        """Check ``cohort`` in [0, m) and ``bits`` (k zeros and ones)."""
        bad = _unknown(item, frozenset({"cohort", "bits"}))
        if bad:
            return bad
        cohort = _int_field(item, "cohort")
        if isinstance(cohort, Rejection):
            return cohort
        if not 0 <= cohort < self.rappor.num_cohorts:
            return Rejection(
                "wrong_cohort", f"cohort must lie in [0, {self.rappor.num_cohorts}), got {cohort}"
            )
        bits = _bits_field(item, self.rappor.num_bloombits)
        if isinstance(bits, Rejection):
            return bits
        return Row(cohort=cohort, bits=bits)

    def wire(
        self,
        values: Sequence[Any],
        *,
        clients: Sequence[str],
        memo: PrrMemo | None = None,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> list[dict[str, Any]]:
        """RAPPOR reports with the client's memo (required: it is what bounds ε∞)."""
        if memo is None:
            raise ParameterError(
                "a RAPPOR client needs a memo (MemoryPrrMemo or SqlitePrrMemo) so that "
                "repeated reports reuse one permanent randomized response"
            )
        rep = self.rappor.privatize(values, clients=clients, memo=memo, rng=rng, budget=budget)
        return [
            {"cohort": int(c), "bits": b.tolist()}
            for c, b in zip(rep.cohorts, rep.bits, strict=True)
        ]

    def estimate(
        self, rows: StoredRows, *, candidates: Sequence[str] | None = None, confidence: float
    ) -> EstimateTable:
        """Decode against ``candidates`` (required)."""
        if not candidates:
            raise ParameterError(
                "RAPPOR estimates need candidate strings: pass --candidates FILE (one per line)"
            )
        counts = RapporCounts.from_reports(self.rappor, RapporReports(rows.cohort, rows.bits))
        est = decode_rappor(self.rappor, counts, list(candidates), confidence=confidence)
        return EstimateTable(
            mechanism="rappor",
            labels=est.candidates,
            estimates=est.counts,
            std_errors=est.std_errors,
            ci_low=est.ci_low,
            ci_high=est.ci_high,
            num_reports=est.num_reports,
            confidence=confidence,
            detected=est.detected,
        )


def collection_from_config(config: Mapping[str, Any]) -> Collection:
    """Build the :class:`Collection` a config describes (what ``GET /config`` serves).

    Examples
    --------
    >>> c = collection_from_config({"mechanism": "rappor", "num_bloombits": 8,
    ...     "num_hashes": 2, "num_cohorts": 4, "f": 0.5, "p": 0.25, "q": 0.75})
    >>> type(c).__name__, c.width
    ('RapporCollection', 8)
    """
    if not isinstance(config, Mapping):
        raise ParameterTypeError(f"config must be a JSON object, got {type(config).__name__}")
    kind = config.get("mechanism")
    if kind == "rappor":
        return RapporCollection(Rappor.from_dict(dict(config)))
    from privet.ldp.service_oracles import ORACLES, OracleCollection

    if kind in ORACLES:
        return OracleCollection.from_config(config)
    known = ["rappor", *sorted(ORACLES)]
    raise ParameterError(f"unknown mechanism {kind!r}; choose one of {known}")
