"""Collections of the frequency oracles (GRR, SUE, OUE, OLH, Hadamard response).

:class:`OracleCollection` wraps one of :mod:`privet.ldp`'s oracles for the collection
service: the client randomizes with the oracle's own ``privatize`` (on the CSPRNG, charging
its ``event`` when given a budget), the wire carries each report as JSON fields (see
:mod:`privet.ldp.service_collections`), and the server estimates with the oracle's own
``estimate``. Each round is charged the oracle's ``event``: a user's reports in different
rounds compose.

Examples
--------
>>> c = OracleCollection.from_config({"mechanism": "grr", "epsilon": 1.0, "domain_size": 3})
>>> c.parse({"value": 2})
Row(cohort=None, value=2, seeds=None, bits=None)
>>> c.parse({"value": 3}).reason
'out_of_range'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from privet.accounting.events import PrivacyEvent
from privet.core.checks import check_probability
from privet.core.errors import ParameterError, ParameterTypeError, PrivetError
from privet.core.random import SecureRandom
from privet.ldp.grr import GRR
from privet.ldp.hadamard import HadamardResponse
from privet.ldp.olh import OLH, HashedReports
from privet.ldp.oracles import FrequencyOracle
from privet.ldp.rappor_memo import PrrMemo
from privet.ldp.service_collections import (
    Collection,
    EstimateTable,
    Rejection,
    Row,
    StoredRows,
    _bits_field,
    _int_field,
    _unknown,
)
from privet.ldp.unary import OUE, SUE

if TYPE_CHECKING:
    from privet.store import Budget

__all__ = ["ORACLES", "OracleCollection"]

ORACLES: Final[dict[str, type[FrequencyOracle]]] = {
    "grr": GRR,
    "sue": SUE,
    "oue": OUE,
    "olh": OLH,
    "hr": HadamardResponse,
}
"""The oracle class of each mechanism name a collection config may use."""

_BITS: Final = frozenset({"sue", "oue"})


class OracleCollection(Collection):
    """A collection of one frequency oracle over the values ``0..d-1``.

    Parameters
    ----------
    oracle
        The oracle (its class name decides the wire format).
    labels
        Optional names of the d values, for estimates (default ``"0"``, ``"1"`` …).
    """

    def __init__(self, oracle: FrequencyOracle, *, labels: Sequence[str] | None = None) -> None:
        kinds = [name for name, cls in ORACLES.items() if type(oracle) is cls]
        if not kinds:
            raise ParameterTypeError(
                "oracle must be a GRR, SUE, OUE, OLH or HadamardResponse from privet.ldp, got "
                f"{type(oracle).__name__}"
            )
        self.oracle = oracle
        self.kind = kinds[0]
        self._seeds: int | None = None
        d = oracle.domain_size
        if labels is None:
            self.labels = tuple(str(i) for i in range(d))
        else:
            self.labels = tuple(str(x) for x in labels)
            if len(self.labels) != d:
                raise ParameterError(f"labels must name all {d} values, got {len(self.labels)}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OracleCollection:
        """Build from ``{"mechanism", "epsilon", "domain_size"[, "labels"]}``."""
        kind = config.get("mechanism")
        if kind not in ORACLES:
            raise ParameterError(f"unknown oracle {kind!r}; choose one of {sorted(ORACLES)}")
        extra = set(config) - {"mechanism", "epsilon", "domain_size", "labels"}
        if extra:
            raise ParameterError(f"unknown {kind} config keys {sorted(extra)}")
        if "epsilon" not in config or "domain_size" not in config:
            raise ParameterError(f"a {kind} config needs 'epsilon' and 'domain_size'")
        oracle = ORACLES[kind](epsilon=config["epsilon"], domain_size=config["domain_size"])
        return cls(oracle, labels=config.get("labels"))

    def config(self) -> dict[str, Any]:
        """``{"mechanism", "epsilon", "domain_size", "labels"}``."""
        return {
            "mechanism": self.kind,
            "epsilon": self.oracle.epsilon,
            "domain_size": self.oracle.domain_size,
            "labels": list(self.labels),
        }

    @property
    def event(self) -> PrivacyEvent:
        """The oracle's event, charged once per round."""
        return self.oracle.event

    @property
    def width(self) -> int:
        """Return d for unary encodings, else 0."""
        return self.oracle.domain_size if self.kind in _BITS else 0

    def _value_bound(self) -> int:
        if isinstance(self.oracle, OLH):
            return self.oracle.hash_range
        if isinstance(self.oracle, HadamardResponse):
            return self.oracle.codewords
        return self.oracle.domain_size

    def parse(self, item: Mapping[str, Any]) -> Row | Rejection:
        """Check the oracle's fields: ``bits`` (SUE/OUE), ``value`` (+ ``seeds`` for OLH)."""
        d = self.oracle.domain_size
        if self.kind in _BITS:
            bad = _unknown(item, frozenset({"bits"}))
            if bad:
                return bad
            bits = _bits_field(item, d)
            return bits if isinstance(bits, Rejection) else Row(bits=bits)
        olh = isinstance(self.oracle, OLH)
        bad = _unknown(item, frozenset({"value", "seeds"} if olh else {"value"}))
        if bad:
            return bad
        value = _int_field(item, "value")
        if isinstance(value, Rejection):
            return value
        bound = self._value_bound()
        if not 0 <= value < bound:
            return Rejection("out_of_range", f"'value' must lie in [0, {bound}), got {value}")
        if not olh:
            return Row(value=value)
        return self._parse_seeds(item, value)

    def _parse_seeds(self, item: Mapping[str, Any], value: int) -> Row | Rejection:
        seeds = item.get("seeds")
        if seeds is None:
            return Rejection("missing_field", "an OLH report needs 'seeds' (its hash key)")
        if not isinstance(seeds, list) or not seeds:
            return Rejection("bad_field", "'seeds' must be a non-empty list of integers")
        if len(seeds) != self._seed_count:
            return Rejection(
                "wrong_length", f"'seeds' must hold {self._seed_count} integers, got {len(seeds)}"
            )
        for x in seeds:
            if isinstance(x, bool) or not isinstance(x, int):
                return Rejection("bad_field", "'seeds' must hold integers")
            if not 0 <= x < 1 << 62:
                return Rejection("out_of_range", "a seed is out of range")
        # The oracle's own server check decides what a valid key is (one report: cheap).
        one = HashedReports(np.array([seeds], dtype=np.int64), np.array([value], dtype=np.int64))
        try:
            self.oracle.aggregate(one)
        except PrivetError:
            return Rejection("out_of_range", "the seeds are not a key of this OLH")
        return Row(value=value, seeds=tuple(seeds))

    @property
    def _seed_count(self) -> int:
        if self._seeds is None:  # the key's length, read off one report of the oracle itself
            probe = self.oracle.privatize(np.zeros(1, dtype=np.int64), rng=SecureRandom())
            self._seeds = int(probe.seeds.shape[1])
        return self._seeds

    def wire(
        self,
        values: Sequence[Any],
        *,
        clients: Sequence[str],
        memo: PrrMemo | None = None,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> list[dict[str, Any]]:
        """Randomize with the oracle's ``privatize`` and turn each report into fields."""
        reports = self.oracle.privatize(np.asarray(values), rng=rng, budget=budget)
        if self.kind in _BITS:
            bits = np.unpackbits(reports, axis=1, count=self.oracle.domain_size)
            return [{"bits": row.tolist()} for row in bits]
        if isinstance(reports, HashedReports):
            return [
                {"seeds": s, "value": int(y)}
                for s, y in zip(reports.seeds.tolist(), reports.hashed.tolist(), strict=True)
            ]
        return [{"value": int(v)} for v in np.asarray(reports).tolist()]

    def estimate(
        self, rows: StoredRows, *, candidates: Sequence[str] | None = None, confidence: float
    ) -> EstimateTable:
        """Return the oracle's unbiased counts, with per-value standard errors."""
        conf = check_probability(confidence, name="confidence", allow_zero=False, allow_one=False)
        if len(rows) == 0:
            raise ParameterError("no reports to estimate from; collect some first")
        reports: Any
        if self.kind in _BITS:
            reports = rows.bits
        elif isinstance(self.oracle, OLH):
            reports = HashedReports(rows.seeds, rows.value)
        else:
            reports = rows.value
        est = self.oracle.estimate(reports)
        lo, hi = est.confidence_interval(conf)
        return EstimateTable(
            mechanism=self.kind,
            labels=self.labels,
            estimates=np.asarray(est.counts, dtype=np.float64),
            std_errors=np.asarray(est.std, dtype=np.float64),
            ci_low=np.asarray(lo, dtype=np.float64),
            ci_high=np.asarray(hi, dtype=np.float64),
            num_reports=len(rows),
            confidence=conf,
        )
