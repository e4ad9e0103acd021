"""Golden ε values from papers and reference implementations (tests/data/golden_epsilons.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from privet.accounting import (
    AdvancedCompositionAccountant,
    BasicCompositionAccountant,
    PLDAccountant,
    RDPAccountant,
    dpsgd_epsilon,
    event_from_dict,
)
from privet.accounting.accountants import Accountant

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_epsilons.json"
CASES: list[dict[str, Any]] = json.loads(GOLDEN.read_text())["cases"]

ACCOUNTANTS: dict[str, Callable[[], Accountant]] = {
    "pld": PLDAccountant,
    "rdp": RDPAccountant,
    "basic": BasicCompositionAccountant,
    "advanced": AdvancedCompositionAccountant,
}


def test_every_case_names_its_source() -> None:
    assert CASES
    for case in CASES:
        assert case["source"].strip(), case["name"]
        assert case["accountant"] in ACCOUNTANTS, case["name"]
        assert {"epsilon", "epsilon_min", "epsilon_max"} & set(case), case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_epsilon(case: dict[str, Any]) -> None:
    event = event_from_dict(case["event"])
    eps = ACCOUNTANTS[case["accountant"]]().compose(event).get_epsilon(case["delta"])
    if "epsilon" in case:
        assert eps == pytest.approx(case["epsilon"], abs=case["abs_tol"]), case["source"]
    if "epsilon_min" in case:
        assert eps >= case["epsilon_min"], case["source"]
    if "epsilon_max" in case:
        assert eps <= case["epsilon_max"], case["source"]


@pytest.mark.parametrize("method", ["pld", "rdp"])
def test_dpsgd_epsilon_reproduces_the_dpsgd_goldens(method: str) -> None:
    for case in CASES:
        inner = case["event"]["event"]
        if case["accountant"] != method or inner.get("type") != "poisson_sampled":
            continue
        eps = dpsgd_epsilon(
            noise_multiplier=inner["event"]["noise_multiplier"],
            sample_rate=inner["sampling_probability"],
            steps=case["event"]["count"],
            delta=case["delta"],
            method=method,
        )
        if "epsilon" in case:
            assert eps == pytest.approx(case["epsilon"], abs=case["abs_tol"]), case["name"]
        if "epsilon_min" in case:
            assert eps >= case["epsilon_min"], case["name"]
        if "epsilon_max" in case:
            assert eps <= case["epsilon_max"], case["name"]
