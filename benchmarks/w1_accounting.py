"""W1: privacy accounting on privet: ε (and wall time) of the peers' three compositions.

The same workload as ``shared/peers/w1_accounting.py`` (add/remove-one neighbours):

  dpsgd_mnist : Poisson-subsampled Gaussian, q = 256/60000, σ = 1.1, 14,062 steps, δ = 1e-5
  abadi       : Poisson-subsampled Gaussian, q = 0.01, σ = 4.0, 10,000 steps, δ = 1e-5
  laplace_100 : 100-fold Laplace mechanism, ε = 0.1 each, δ = 1e-6

privet's accountants: ``PLDAccountant(value_discretization_interval=1e-4)`` (the peer's PLD
setting), ``RDPAccountant()`` (dp_accounting's default orders), and for laplace_100 also
``BasicCompositionAccountant`` and ``AdvancedCompositionAccountant``. One timed call builds
a fresh accountant, composes the event and returns ε (the peer script's rule); ``time_s`` is
the median of 3 timed calls after 1 warm-up. The last stdout line is the JSON envelope of
``benchmarks/envelope.py``; ``--quick`` times one call per cell, with no warm-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from envelope import emit, parse_args, timed, versions  # benchmarks/ is on sys.path
from privet.accounting import (
    AdvancedCompositionAccountant,
    BasicCompositionAccountant,
    GaussianEvent,
    LaplaceEvent,
    PLDAccountant,
    PoissonSampledEvent,
    PrivacyEvent,
    RDPAccountant,
    SelfComposedEvent,
)
from privet.accounting.accountants import Accountant

PLD_DISCRETIZATION = 1e-4
GAUSS_CASES: dict[str, dict[str, float]] = {
    "dpsgd_mnist": {"q": 256 / 60000, "sigma": 1.1, "steps": 14062, "delta": 1e-5},
    "abadi": {"q": 0.01, "sigma": 4.0, "steps": 10000, "delta": 1e-5},
}
LAPLACE: dict[str, float] = {"eps_each": 0.1, "count": 100, "delta": 1e-6}

ACCOUNTANTS: dict[str, Callable[[], Accountant]] = {
    "pld": lambda: PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION),
    "rdp": RDPAccountant,
    "basic_composition": BasicCompositionAccountant,
    "advanced_composition": AdvancedCompositionAccountant,
}


def gauss_event(case: dict[str, float]) -> PrivacyEvent:
    step = PoissonSampledEvent(
        sampling_probability=case["q"], event=GaussianEvent(noise_multiplier=case["sigma"])
    )
    return SelfComposedEvent(event=step, count=int(case["steps"]))


def measure(
    make: Callable[[], Accountant], event: PrivacyEvent, delta: float, repeats: int, warmup: int
) -> dict[str, Any]:
    def call() -> float:
        return make().compose(event).get_epsilon(delta)

    try:
        median, runs, eps = timed(call, repeats=repeats, warmup=warmup)
    except Exception as exc:  # report, don't hide
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"eps": eps, "time_s": median, "time_s_runs": runs}


def main() -> int:
    t_start = time.perf_counter()
    args = parse_args(__doc__.splitlines()[0])
    repeats, warmup = (1, 0) if args.quick else (3, 1)

    results: dict[str, Any] = {}
    for name, case in GAUSS_CASES.items():
        event = gauss_event(case)
        results[name] = {
            acc: measure(ACCOUNTANTS[acc], event, case["delta"], repeats, warmup)
            for acc in ("pld", "rdp")
        }
    lap_event = SelfComposedEvent(
        event=LaplaceEvent(epsilon=LAPLACE["eps_each"]), count=int(LAPLACE["count"])
    )
    results["laplace_100"] = {
        acc: measure(make, lap_event, LAPLACE["delta"], repeats, warmup)
        for acc, make in ACCOUNTANTS.items()
    }

    notes = [
        f"PLD: privet.accounting.PLDAccountant(value_discretization_interval="
        f"{PLD_DISCRETIZATION}) on dp_accounting's PLD (pessimistic), ADD_OR_REMOVE_ONE",
        "RDP: privet.accounting.RDPAccountant() with dp_accounting's default orders",
        "each timed call = build accountant + compose + get_epsilon, in one process, "
        "after warm-up (the peer script's rule)",
        "basic/advanced composition: Dwork & Roth 2014 Thm 3.16 / Thm 3.20 "
        "(the advanced bound is capped by basic composition)",
    ]
    emit(
        "w1_accounting",
        args,
        versions_=versions("privet", "dp-accounting", "numpy", "scipy"),
        params={
            "cases": GAUSS_CASES,
            "laplace_100": LAPLACE,
            "pld_value_discretization_interval": PLD_DISCRETIZATION,
        },
        results={"privet": results},
        repeats=repeats,
        warmup=warmup,
        notes=notes,
        t_start=t_start,
        ok=all("error" not in cell for case in results.values() for cell in case.values()),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
