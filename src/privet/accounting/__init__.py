"""privet.accounting: privacy events, accountants and DP-SGD accounting.

Mechanisms emit frozen events (:mod:`privet.accounting.events`); accountants price them
(:mod:`privet.accounting.accountants`) through Google's ``dp_accounting``
(:mod:`privet.accounting.translate`); :mod:`privet.accounting.dpsgd` answers the two DP-SGD
questions (ε of a run, σ for a target ε); :mod:`privet.accounting.filters` holds the privacy
filters that keep a budget valid under fully adaptive composition;
:mod:`privet.accounting.chargeable` names what a mechanism charges before it draws noise.

Examples
--------
>>> from privet.accounting import dpsgd_epsilon
>>> round(dpsgd_epsilon(noise_multiplier=4.0, sample_rate=0.01, steps=10_000,
...     delta=1e-5), 2)
0.95
"""

from privet.accounting.accountants import DEFAULT_RDP_ORDERS, Accountant, amplified_epsilon
from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.composition import AdvancedCompositionAccountant, BasicCompositionAccountant
from privet.accounting.dpsgd import calibrate_noise_multiplier, dpsgd_epsilon
from privet.accounting.events import (
    ComposedEvent,
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    LocalRandomizerEvent,
    NoOpEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    RandomizedResponseEvent,
    ReportNoisyMaxEvent,
    SelfComposedEvent,
    SparseVectorEvent,
    event_from_dict,
    event_from_json,
)
from privet.accounting.filters import (
    FILTER_NAMES,
    AdvancedFilter,
    BasicFilter,
    Cost,
    PrivacyFilter,
    RDPFilter,
    default_filter,
    make_filter,
)
from privet.accounting.pld import PLDAccountant
from privet.accounting.pricing import epsilon_at_delta, pure_epsilon, rdp_curve
from privet.accounting.rdp import RDPAccountant
from privet.accounting.translate import to_dp_accounting

__all__ = [
    "DEFAULT_RDP_ORDERS",
    "FILTER_NAMES",
    "Accountant",
    "AdvancedCompositionAccountant",
    "AdvancedFilter",
    "BasicCompositionAccountant",
    "BasicFilter",
    "Chargeable",
    "ComposedEvent",
    "Cost",
    "DiscreteGaussianEvent",
    "DiscreteLaplaceEvent",
    "EpsilonDeltaEvent",
    "ExponentialEvent",
    "GaussianEvent",
    "LaplaceEvent",
    "LocalRandomizerEvent",
    "NoOpEvent",
    "PLDAccountant",
    "PoissonSampledEvent",
    "PrivacyEvent",
    "PrivacyFilter",
    "RDPAccountant",
    "RDPFilter",
    "RandomizedResponseEvent",
    "ReportNoisyMaxEvent",
    "SelfComposedEvent",
    "SparseVectorEvent",
    "amplified_epsilon",
    "calibrate_noise_multiplier",
    "charge_budget",
    "default_filter",
    "dpsgd_epsilon",
    "epsilon_at_delta",
    "event_from_dict",
    "event_from_json",
    "make_filter",
    "pure_epsilon",
    "rdp_curve",
    "to_dp_accounting",
]
