"""What a computation cost, per operation type: bytes, rounds, messages and time.

Every user-facing operation (``mul``, ``matmul``, ``lt``, ``relu``, ``softmax``, ``share``,
``reveal`` …) is one row of a :class:`CostReport`; the primitive instructions it runs are
charged to it (the outermost operation wins, so ``relu`` includes its comparison).

* ``bytes_sent``: payload bytes the computing parties sent to each other and to clients
  (summed over parties; for ``share``, what the input owner sent);
* ``dealer_bytes``: what the dealer sent (offline material: corrections and seeds);
* ``rounds``: communication rounds, the maximum over parties, summed over instructions;
* ``seconds``: the driver's wall clock;
* ``offline_seconds``: of those, the offline phase (the dealer producing the material), for
  operations run inside ``preprocessing()``; 0 otherwise, when the phases overlap;
* ``elements``: output elements produced, so ``bytes_sent / elements`` is the cost per element.

Examples
--------
>>> report = CostReport()
>>> report.add("mul", bytes_sent=32, rounds=1, seconds=0.001, elements=1)
>>> report["mul"].bytes_per_element
32.0
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

__all__ = ["CostReport", "OpCost"]


@dataclass
class OpCost:
    """The cost of one operation type, accumulated over calls.

    Attributes
    ----------
    calls, bytes_sent, dealer_bytes, rounds, messages, elements, seconds, offline_seconds
        See :mod:`privet.smpc.cost`.
    """

    calls: int = 0
    bytes_sent: int = 0
    dealer_bytes: int = 0
    rounds: int = 0
    messages: int = 0
    elements: int = 0
    seconds: float = 0.0
    offline_seconds: float = 0.0

    @property
    def online_seconds(self) -> float:
        """``seconds - offline_seconds``: the online phase when preprocessed."""
        return self.seconds - self.offline_seconds

    @property
    def bytes_per_element(self) -> float:
        """``bytes_sent / elements`` (0.0 when no element was produced)."""
        return self.bytes_sent / self.elements if self.elements else 0.0


class CostReport:
    """Per-operation costs of a cluster's computations (see the module docstring).

    Examples
    --------
    >>> r = CostReport()
    >>> r.add("lt", bytes_sent=100, rounds=8, seconds=0.01, elements=10)
    >>> r.add("lt", bytes_sent=100, rounds=8, seconds=0.01, elements=10)
    >>> r["lt"].calls, r.total.bytes_sent
    (2, 200)
    """

    def __init__(self) -> None:
        self._rows: dict[str, OpCost] = {}

    def add(
        self,
        op: str,
        *,
        calls: int = 1,
        bytes_sent: int = 0,
        dealer_bytes: int = 0,
        rounds: int = 0,
        messages: int = 0,
        elements: int = 0,
        seconds: float = 0.0,
        offline_seconds: float = 0.0,
    ) -> None:
        """Add the cost of ``calls`` calls of ``op``."""
        row = self._rows.setdefault(op, OpCost())
        row.calls += calls
        row.bytes_sent += bytes_sent
        row.dealer_bytes += dealer_bytes
        row.rounds += rounds
        row.messages += messages
        row.elements += elements
        row.seconds += seconds
        row.offline_seconds += offline_seconds

    def __getitem__(self, op: str) -> OpCost:
        return self._rows[op]

    def __contains__(self, op: object) -> bool:
        return op in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def total(self) -> OpCost:
        """The sum over every operation."""
        out = OpCost()
        for row in self._rows.values():
            for key, value in asdict(row).items():
                setattr(out, key, getattr(out, key) + value)
        return out

    def to_dict(self) -> dict[str, dict[str, float]]:
        """Return ``{op: {field: value}}``, JSON-ready."""
        return {op: dict(asdict(self._rows[op])) for op in self}

    def table(self) -> str:
        """Return the report as a fixed-width text table."""
        head = (
            f"{'op':<12}{'calls':>7}{'bytes':>14}{'B/elem':>10}{'rounds':>8}"
            f"{'dealer B':>12}{'s':>9}{'offline s':>11}"
        )
        lines = [head]
        for op in self:
            r = self._rows[op]
            lines.append(
                f"{op:<12}{r.calls:>7}{r.bytes_sent:>14}{r.bytes_per_element:>10.1f}"
                f"{r.rounds:>8}{r.dealer_bytes:>12}{r.seconds:>9.3f}{r.offline_seconds:>11.3f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CostReport(ops={sorted(self._rows)})"
