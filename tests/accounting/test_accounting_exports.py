"""privet.accounting's public names are pinned (cf. httpx's test_exported_members.py)."""

from __future__ import annotations

import privet.accounting as accounting
from privet.accounting import accountants, chargeable, dpsgd, events, translate

EXPECTED = {
    # events.py
    "ComposedEvent",
    "DiscreteGaussianEvent",
    "DiscreteLaplaceEvent",
    "EpsilonDeltaEvent",
    "ExponentialEvent",
    "GaussianEvent",
    "LaplaceEvent",
    "LocalRandomizerEvent",
    "NoOpEvent",
    "PoissonSampledEvent",
    "PrivacyEvent",
    "RandomizedResponseEvent",
    "ReportNoisyMaxEvent",
    "SelfComposedEvent",
    "SparseVectorEvent",
    "event_from_dict",
    "event_from_json",
    # accountants.py
    "DEFAULT_RDP_ORDERS",
    "Accountant",
    "AdvancedCompositionAccountant",
    "BasicCompositionAccountant",
    "PLDAccountant",
    "RDPAccountant",
    "amplified_epsilon",
    "epsilon_at_delta",
    "pure_epsilon",
    "rdp_curve",
    # translate.py, dpsgd.py
    "to_dp_accounting",
    "calibrate_noise_multiplier",
    "dpsgd_epsilon",
    # chargeable.py
    "Chargeable",
    "charge_budget",
    # filters.py
    "FILTER_NAMES",
    "AdvancedFilter",
    "BasicFilter",
    "Cost",
    "PrivacyFilter",
    "RDPFilter",
    "default_filter",
    "make_filter",
}


def test_the_room_exports_exactly_its_public_api() -> None:
    assert set(accounting.__all__) == EXPECTED
    for name in accounting.__all__:
        assert hasattr(accounting, name), name
    assert len(accounting.__all__) == len(set(accounting.__all__))


def test_every_module_lists_what_it_defines() -> None:
    for module in (accountants, chargeable, dpsgd, events, translate):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    assert set(events.__all__) <= set(accounting.__all__)
    assert set(accountants.__all__) <= set(accounting.__all__)
    assert set(dpsgd.__all__) <= set(accounting.__all__)
    assert set(chargeable.__all__) <= set(accounting.__all__)


def test_the_mechanism_rooms_share_one_chargeable_protocol() -> None:
    import privet.dp as dp
    from privet.ldp import oracles

    assert dp.Chargeable is accounting.Chargeable
    assert oracles.Chargeable is accounting.Chargeable
